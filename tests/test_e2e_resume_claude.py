"""A real Claude Code (``claude -p``) through ``coderouter serve`` with seamless failover: on
every turn of a tool loop the first provider's stream is cut mid-answer and the second one
continues it, and Claude Code never notices (no non-streaming retry reaches any upstream).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from coderouter.testing import Answer, ConfigBuilder, anthropic_stream
from coderouter.testing.agents import client_env

RUN_TIMEOUT_S = 180
NOTES = "The deploy key rotates every Tuesday at 04:00 UTC."
PLAN = "I will read the notes file first, then report what it says about the deploy key."
ANSWER = "The notes say the deploy key rotates every Tuesday at 04:00 UTC, so plan around it."


def words(text: str) -> list[str]:
    """``text`` in pieces of a word each (with the space before it)."""
    parts = text.split(" ")
    return [parts[0], *(" " + p for p in parts[1:])]


def cut_text(text: str, *, sent_words: int, tool: dict[str, Any] | None = None) -> Answer:
    """An answer whose stream is cut after ``sent_words`` words of its text."""
    frames = anthropic_stream(words(text), tool_uses=[tool] if tool else None, output_tokens=30)
    return Answer.sse(frames, cut_after=2 + 1 + sent_words)  # message_start, ping, block start


def test_claude_code_tool_loop_survives_a_cut_on_every_turn(
    client_bin: Path, router_process: Any, fake_upstreams: Any, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    notes = work / "notes.txt"
    notes.write_text(NOTES + "\n")
    read = {"id": "toolu_read_notes", "name": "Read", "input": {"file_path": str(notes)}}
    first, second = fake_upstreams(), fake_upstreams()
    builder = ConfigBuilder()
    for name, server in (("first", first), ("second", second)):
        builder.provider(name, server, kind="anthropic", model=f"claude-{name}")
    proc = router_process(builder.profile("default", ["first", "second"]).router(resume="all"))
    # Turn 1: the plan is cut after 6 words; the second provider repeats a few of them, goes
    # on and calls Read. Turn 2 (with the file's content): the answer is cut after 5 words.
    first.script(cut_text(PLAN, sent_words=6, tool=read))
    plan_rest = PLAN[len("".join(words(PLAN)[:4])) :]
    second.script(Answer.sse(anthropic_stream(words(plan_rest), tool_uses=[read])))
    first.script(cut_text(ANSWER, sent_words=5))
    answer_rest = ANSWER[len("".join(words(ANSWER)[:5])) :]
    second.script(Answer.sse(anthropic_stream(words(answer_rest))))

    env = client_env(tmp_path / "home", client_bin)
    env.update({"ANTHROPIC_BASE_URL": proc.url, "ANTHROPIC_API_KEY": "k"})
    prompt = f"Read {notes} and tell me what it says about the deploy key."
    result = subprocess.run(
        ["claude", "-p", prompt, "--output-format", "json", "--allowedTools", "Read"],
        env=env,
        cwd=work,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    reply = json.loads(result.stdout)
    assert reply["is_error"] is False, reply
    assert reply["result"] == ANSWER
    assert reply["num_turns"] >= 2

    first_bodies, second_bodies = first.bodies(), second.bodies()
    assert len(first_bodies) == 2 and len(second_bodies) == 2
    # No non-streaming retry of a turn reached either upstream.
    assert all(b.get("stream") is True for b in first_bodies + second_bodies)
    # The second turn carries the file Claude Code read with the stitched tool call.
    results = [
        block
        for message in first_bodies[1]["messages"]
        if isinstance(message.get("content"), list)
        for block in message["content"]
        if block.get("type") == "tool_result"
    ]
    assert [r["tool_use_id"] for r in results] == ["toolu_read_notes"]
    assert NOTES in json.dumps(results[0]["content"])
    # Each continuation was asked with what the client already had as the prefill.
    for body, text, sent in ((second_bodies[0], PLAN, 6), (second_bodies[1], ANSWER, 5)):
        prefill = body["messages"][-1]
        assert prefill["role"] == "assistant"
        assert prefill["content"][-1]["text"] == "".join(words(text)[:sent]).rstrip()
    resumes = [line["resumes"] for line in proc.log_lines() if "resumes" in line]
    assert [r[0]["outcome"] for r in resumes] == ["resumed", "resumed"]
