"""``tools``: native call, call written as text (the tool_repair scanner decides), none."""

from __future__ import annotations

import json
from typing import Any

from coderouter_doctor.probes import Tools

from coderouter.testing import Answer, chat_completion

CALL = {"name": "get_weather", "arguments": {"city": "Paris"}}
AS_TEXT = f"Sure.\n```json\n{json.dumps(CALL)}\n```"


def test_a_native_call_is_ok(probe_once: Any) -> None:
    result = probe_once(Tools(), Answer.json(chat_completion("", tool_calls=[CALL])))
    assert (result.verdict, result.reason) == ("ok", "native tool call")
    sent = probe_once.upstream.requests[0].body
    assert sent["tools"][0]["function"]["name"] == "get_weather"


def test_a_native_call_against_a_declared_false_flips_the_flag(probe_once: Any) -> None:
    result = probe_once(
        Tools(),
        Answer.json(chat_completion("", tool_calls=[CALL])),
        capabilities={"tools": False},
    )
    assert result.verdict == "needs_tuning"
    assert result.patch.describe() == "providers[local].capabilities.tools = true"


def test_a_call_written_as_text_enables_tool_repair_for_the_provider(probe_once: Any) -> None:
    result = probe_once(Tools(), Answer.json(chat_completion(AS_TEXT)))
    assert result.verdict == "needs_tuning"
    assert result.reason.startswith("tool call written as text")
    assert result.patch.describe() == (
        'plugins.enabled += ["tool_repair"]; plugins.tool_repair.enabled_providers += ["local"]'
    )


def test_a_call_written_as_text_is_ok_when_tool_repair_covers_it(probe_once: Any) -> None:
    result = probe_once(Tools(), Answer.json(chat_completion(AS_TEXT)), plugins={"tool_repair": {}})
    assert result.verdict == "ok"
    assert "tool_repair turns it into a call" in result.reason


def test_tool_repair_serving_other_providers_gets_this_one_added(probe_once: Any) -> None:
    result = probe_once(
        Tools(),
        Answer.json(chat_completion(AS_TEXT)),
        plugins={"tool_repair": {"enabled_providers": []}},
    )
    assert result.patch.describe() == 'plugins.tool_repair.enabled_providers += ["local"]'


def test_prose_instead_of_a_call_declares_no_tools(probe_once: Any) -> None:
    result = probe_once(Tools(), Answer.json(chat_completion("It is sunny in Paris.")))
    assert result.verdict == "needs_tuning"
    assert result.patch.describe() == "providers[local].capabilities.tools = false"


def test_a_400_about_tools_declares_no_tools(probe_once: Any) -> None:
    result = probe_once(Tools(), Answer.error(400, "gemma3:270m does not support tools"))
    assert result.verdict == "needs_tuning"
    assert result.reason.startswith("HTTP 400 on a request with tools: gemma3:270m does not")


def test_no_call_with_tools_declared_false_is_unsupported(probe_once: Any) -> None:
    result = probe_once(
        Tools(), Answer.json(chat_completion("sunny")), capabilities={"tools": False}
    )
    assert result.verdict == "unsupported"
    assert result.patch is None
