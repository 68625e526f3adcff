"""Tool-loop guard for CodeRouter: an agent repeating the same tool call with the same
arguments is warned about, nudged with a note, or stopped (``[plugins.tool_loop]``)."""

from coderouter_tool_loop.config import ToolLoopConfig
from coderouter_tool_loop.detect import Loop, ToolCall, canonical_arguments, find_loop, tool_calls
from coderouter_tool_loop.plugin import ToolLoopPlugin

__all__ = [
    "Loop",
    "ToolCall",
    "ToolLoopConfig",
    "ToolLoopPlugin",
    "canonical_arguments",
    "find_loop",
    "tool_calls",
]
