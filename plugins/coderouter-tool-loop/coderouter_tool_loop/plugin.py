"""The ``tool_loop`` plugin: watch the tool calls a client sends back and act on repeats."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from coderouter import AttachedPlugin, hookimpl
from coderouter.state import MemoryRecords, ProviderRecords, clock_field
from coderouter.types import Draft, Reject
from coderouter_tool_loop.config import ToolLoopConfig
from coderouter_tool_loop.detect import Loop, find_loop, tool_calls

if TYPE_CHECKING:
    from coderouter.context import AppContext

__all__ = ["Detections", "ToolLoopPlugin"]

NAME = "tool_loop"
MAX_TOOLS = 100
"""Tool names counted apart per worker; the detections of any further name count as "(other)"."""
KEEP_S = 86400.0
"""A worker's detections leave the fleet's totals this long after its latest one (a worker that
stopped never writes again)."""


@attrs.define
class Detections:
    """One worker's detections: how many per tool, and the latest."""

    counts: dict[str, int] = attrs.Factory(dict)
    last: dict[str, Any] | None = None
    last_at: float | None = clock_field()


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
        self._local: MemoryRecords[Detections] = MemoryRecords(Detections)
        self.workers: ProviderRecords[Detections] = self._local
        self.worker = "this worker"
        self._shared = False

    def attach(self, app: AppContext) -> None:
        """Also take records of the app's store, one per worker: with Redis, ``GET
        /-/plugins`` counts the detections of every worker of every host."""
        super().attach(app)
        self.workers = app.store.records(NAME, self._local)
        self.worker = app.store.writer
        self._shared = app.store.shared

    def detach(self) -> None:
        super().detach()
        self.workers = self._local

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
        name = (
            loop.name
            if loop.name in self.detections or len(self.detections) < MAX_TOOLS
            else "(other)"
        )
        self.detections[name] += 1
        self._last_at = self.clock()
        self.last = {
            "tool": loop.name,
            "count": loop.count,
            "profile": draft.request.profile,
            "action": config.action,
        }
        if self._shared:
            # One record per worker, written whole: no two workers ever write the same one.
            self.workers.save(
                self.worker, Detections(dict(self.detections), self.last, self._last_at)
            )
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
        now = self.clock()
        own = Detections(dict(self.detections), self.last, self._last_at)
        found = [own]
        if self._shared:
            for worker in list(self.workers):
                seen = self.workers.get(worker)
                if worker == self.worker or seen is None:
                    continue
                if seen.last_at is None or now - seen.last_at > KEEP_S:
                    self.workers.forget(worker)
                    continue
                found.append(seen)
        counts: Counter[str] = Counter()
        for seen in found:
            counts.update({k: v for k, v in seen.counts.items() if isinstance(v, int)})
        latest = max(
            (s for s in found if s.last is not None and s.last_at is not None),
            key=lambda s: s.last_at or 0.0,
            default=None,
        )
        last = None
        if latest is not None and latest.last is not None and latest.last_at is not None:
            last = {**latest.last, "seconds_ago": round(now - latest.last_at, 1)}
        state: dict[str, Any] = {
            "scope": self.workers.scope if self._shared else "per worker process, in memory",
            "detections": dict(counts),
            "total": sum(counts.values()),
            "last": last,
        }
        if self._shared:
            state["workers"] = len(found)
            state["this_worker"] = {"detections": dict(self.detections)}
        return state
