"""Tool-call repair for CodeRouter: tool calls that small local models write as text (bare
JSON, fenced blocks, ``<tool_call>`` wrappers ...) become real tool calls
(``[plugins.tool_repair]``)."""

from coderouter_tool_repair.calls import Call, ToolSet, calls_from_json, calls_from_value
from coderouter_tool_repair.config import ToolRepairConfig
from coderouter_tool_repair.plugin import ToolRepairPlugin, declared_tools
from coderouter_tool_repair.repair import repair_text
from coderouter_tool_repair.scanner import Recovered, TextScanner
from coderouter_tool_repair.transform import Outcome, ToolRepairTransform

__all__ = [
    "Call",
    "Outcome",
    "Recovered",
    "TextScanner",
    "ToolRepairConfig",
    "ToolRepairPlugin",
    "ToolRepairTransform",
    "ToolSet",
    "calls_from_json",
    "calls_from_value",
    "declared_tools",
    "repair_text",
]
