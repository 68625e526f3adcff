from __future__ import annotations

import pytest

from coderouter.sse import SSEError, SSEParser

TRANSCRIPT = (
    b'event: message_start\ndata: {"a": 1}\n\n: comment\n\nevent: ping\ndata: {}\n\n'
    b"data: line1\ndata: line2\n\ndata: [DONE]\n\n"
)


def frames_of(chunks: list[bytes]) -> list[tuple[str | None, str]]:
    parser = SSEParser()
    out = []
    for chunk in chunks:
        out += [(f.event, f.data) for f in parser.feed(chunk)]
    out += [(f.event, f.data) for f in parser.flush()]
    return out


EXPECTED = [("message_start", '{"a": 1}'), ("ping", "{}"), (None, "line1\nline2"), (None, "[DONE]")]


def test_whole_transcript() -> None:
    assert frames_of([TRANSCRIPT]) == EXPECTED


def test_every_split_point_gives_the_same_frames() -> None:
    for cut in range(1, len(TRANSCRIPT)):
        assert frames_of([TRANSCRIPT[:cut], TRANSCRIPT[cut:]]) == EXPECTED, cut


def test_byte_by_byte_and_crlf() -> None:
    crlf = TRANSCRIPT.replace(b"\n", b"\r\n")
    assert frames_of([crlf[i : i + 1] for i in range(len(crlf))]) == EXPECTED


def test_raw_bytes_are_kept_for_relay() -> None:
    parser = SSEParser()
    frames = parser.feed(b'data: {"x":1}\n\ndata: [DONE]\n\n')
    assert frames[0].raw == b'data: {"x":1}\n\n'


def test_final_frame_without_blank_line_is_flushed() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: last") == []
    [frame] = parser.flush()
    assert frame.data == "last"


def test_every_split_into_three_with_crlf_gives_the_same_frames() -> None:
    crlf = TRANSCRIPT.replace(b"\n", b"\r\n")
    for a in range(1, len(crlf), 3):
        for b in range(a, len(crlf), 7):
            assert frames_of([crlf[:a], crlf[a:b], crlf[b:]]) == EXPECTED, (a, b)


def test_an_event_over_the_cap_raises_before_it_is_held() -> None:
    parser = SSEParser(max_event_bytes=10_000)
    [frame] = parser.feed(b'data: {"ok":1}\n\ndata: ')
    assert frame.data == '{"ok":1}'
    with pytest.raises(SSEError, match="max_sse_event_bytes"):
        for _ in range(100):
            parser.feed(b"x" * 1000)
