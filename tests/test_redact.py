"""Key values and key shapes are redacted; ordinary text is left alone."""

from __future__ import annotations

import logging

import pytest

from coderouter.redact import credential_values, install_log_redaction, redact, remember


@pytest.mark.parametrize(
    "key",
    [
        "sk-ant-api03-AAAAbbbbCCCCdddd_eeee",
        "sk-proj-AAAAbbbbCCCCddddEEEEffff",
        "sk-or-v1-0123456789abcdef0123456789",
        "AIzaSyA0123456789abcdefghijklmnopqrstu",
        "gsk_0123456789abcdefghijABCD",
        "AKIAABCDEFGHIJKLMNOP",
    ],
)
def test_common_key_shapes_are_redacted(key: str) -> None:
    assert redact(f"bad key: {key}.") == "bad key: [redacted]."


def test_remembered_values_are_redacted_and_short_ones_ignored() -> None:
    remember(["plain-but-secret-1", "plain-but-secret-12", "abc", "  padded-secret-9  "])
    text = "k=plain-but-secret-12 j=plain-but-secret-1 p=padded-secret-9 abc"
    assert redact(text) == "k=[redacted] j=[redacted] p=[redacted] abc"


def test_ordinary_text_is_unchanged() -> None:
    text = "model claude-sonnet-4-5 answered 429: rate limited; retry in 3 s (task-12345)"
    assert redact(text) == text
    assert redact("Authorization: Bearer sk-ant-api03-xxxxxxxxxxxx") == (
        "Authorization: Bearer [redacted]"
    )


def test_credential_headers_give_their_values_and_other_headers_none() -> None:
    headers = {
        "Authorization": "Bearer tok-0123456789",
        "x-goog-api-key": "AIzaNotReallyAKey",
        "anthropic-version": "2023-06-01",
        "HTTP-Referer": "https://example.com/app",
    }
    assert credential_values(headers) == [
        "Bearer tok-0123456789",
        "tok-0123456789",
        "AIzaNotReallyAKey",
    ]


def test_a_key_remembered_after_a_text_was_seen_is_redacted_in_it_from_then_on() -> None:
    """Short texts' answers are remembered; adding a key must not leave a stale answer."""
    short = "upstream said: late-key-0c1d2e3f4a"
    long = "x" * 300 + " late-key-0c1d2e3f4a"
    assert redact(short) == short and redact(long) == long
    remember(["late-key-0c1d2e3f4a"])
    assert redact(short) == "upstream said: [redacted]"
    assert redact(long).endswith(" [redacted]")


def test_records_of_every_logger_are_redacted_children_of_coderouter_included(
    caplog: pytest.LogCaptureFixture,
) -> None:
    install_log_redaction()
    remember(["child-logger-key-5e6f7a8b"])
    with caplog.at_level(logging.INFO):
        logging.getLogger("coderouter.metrics").warning("refused %s", "child-logger-key-5e6f7a8b")
        logging.getLogger("some_library").info("url ?key=child-logger-key-5e6f7a8b")
        try:
            raise RuntimeError("upstream said child-logger-key-5e6f7a8b")
        except RuntimeError:
            logging.getLogger("coderouter.plugin.x").exception("hook failed")
    assert "child-logger-key-5e6f7a8b" not in caplog.text
    # the warning, the library's line, and the traceback's source line and exception line
    assert caplog.text.count("[redacted]") == 4
    assert "RuntimeError: upstream said [redacted]" in caplog.text
