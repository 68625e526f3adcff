"""The ``tool_loop`` plugin: watch the tool calls a client sends back and act on repeats."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from coderouter import AttachedPlugin, hookimpl
from coderouter.types import Draft, Reject
from coderouter_tool_loop.config import ToolLoopConfig
from coderouter_tool_loop.detect import Loop, find_loop, tool_calls

if TYPE_CHECKING:
    pass

__all__ = ["ToolLoopPlugin"]

NAME = "tool_loop"


def note_for(loop: Loop) -> str:
    return (
        f"You have called the tool `{loop.name}` {loop.count} times in a row with the same "
        "arguments. Repeating it will not give a different result. Do not call it again with "
        "these arguments: change your approach (other arguments, another tool, or explain "
        "what is blocking you)."
    )


def reject_message(loop: Loop) -> str:
    return (
        f"tool loop: the model called `{loop.name}` {loop.count} times in a row with identical "
        "arguments; the router stops this conversation turn here (plugins.tool_loop.action = "
        '"break")'
    )


class ToolLoopPlugin(AttachedPlugin):
    """Detects ``threshold`` identical consecutive tool calls among the last ``window`` and
    warns (a ``guard`` log event), injects a note for the model, or refuses the request."""

    Config = ToolLoopConfig

    def __init__(
        self,
        config: ToolLoopConfig | None = None,
        profile_configs: dict[str, ToolLoopConfig] | None = None,
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(config, profile_configs, clock=clock)
        self.detections: Counter[str] = Counter()
        self.last: dict[str, Any] | None = None
        self._last_at: float | None = None

    # --- the guard -----------------------------------------------------------------------------

    @hookimpl
    def prepare_request(self, draft: Draft) -> Reject | None:
        config: ToolLoopConfig = self.config_for(draft.request.profile)
        try:
            conversation = draft.request.conversation()
        except (ValueError, TypeError, KeyError):
            # A body the wire format cannot read is the host's to answer; the guard stays out.
            return None
        calls = tool_calls(
            conversation.messages,
            reset_on_user_text=config.reset_on_user_text,
            limit=config.window,
        )
        loop = find_loop(calls, window=config.window, threshold=config.threshold)
        if loop is None:
            return None
        self._record(loop, draft, config)
        if config.action == "inject":
            draft.add_system_note(note_for(loop))
        elif config.action == "break":
            return Reject(message=reject_message(loop), status=400, error_type="invalid_request")
        return None

    def _record(self, loop: Loop, draft: Draft, config: ToolLoopConfig) -> None:
        self.detections[loop.name] += 1
        self._last_at = self.clock()
        self.last = {
            "tool": loop.name,
            "count": loop.count,
            "profile": draft.request.profile,
            "action": config.action,
        }
        draft.meta[NAME] = {"tool": loop.name, "count": loop.count, "action": config.action}
        self.emit(
            {
                "event": "guard",
                "plugin": NAME,
                "action": config.action,
                "tool": loop.name,
                "count": loop.count,
                "profile": draft.request.profile,
                "ingress": draft.request.ingress,
            },
            request=draft.request,
        )

    # --- state ---------------------------------------------------------------------------------

    @hookimpl
    def describe_state(self) -> dict[str, Any]:
        last = None
        if self.last is not None and self._last_at is not None:
            last = {**self.last, "seconds_ago": round(self.clock() - self._last_at, 1)}
        return {
            "scope": "per worker process, in memory",
            "detections": dict(self.detections),
            "total": sum(self.detections.values()),
            "last": last,
        }
