"""Detections counted across hosts: two plugins, each on its own Redis store and fake clock
against one real ``redis-server``; each host's ``GET /-/plugins`` state sums both."""

from __future__ import annotations

import json
from typing import Any

from coderouter_tool_loop import ToolLoopPlugin
from coderouter_tool_loop.plugin import KEEP_S

from coderouter.testing import FakeClock, RedisServer, StoreHost, run_hosts, until
from coderouter.types import Draft, RequestView


def looping(tool: str, calls: int = 3) -> Draft:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "fix the bug"}]
    for i in range(calls):
        call = {"id": f"c{i}", "type": "function", "function": {"name": tool, "arguments": "{}"}}
        messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        messages.append({"role": "tool", "tool_call_id": f"c{i}", "content": json.dumps("same")})
    return Draft(RequestView("openai_chat", {"model": "m", "messages": messages}, {}))


class Host(StoreHost):
    """One host: its store and a tool_loop plugin attached to it."""

    def __init__(self, url: str, clock: float, wall: FakeClock) -> None:
        super().__init__(url, clock=clock, wall=wall, prefix="tool-loop-test:")
        self.plugin = ToolLoopPlugin(clock=self.clock)
        self.plugin.attach(self.app())


def test_each_host_counts_every_hosts_detections(redis_server: RedisServer) -> None:
    async def body(one: Host, two: Host) -> None:
        one.plugin.prepare_request(looping("bash"))
        one.plugin.prepare_request(looping("bash"))
        for clock in (one.clock, two.clock, wall):
            clock.advance(5.0)
        two.plugin.prepare_request(looping("read_file"))
        await until(lambda: two.plugin.describe_state()["total"] == 3)
        await until(lambda: one.plugin.describe_state()["total"] == 3)
        state = one.plugin.describe_state()
        assert state["detections"] == {"bash": 2, "read_file": 1}
        assert state["workers"] == 2 and state["this_worker"] == {"detections": {"bash": 2}}
        assert state["last"]["tool"] == "read_file"  # the latest, seen through the other host
        assert state["last"]["seconds_ago"] == 0.0
        assert state["scope"].startswith("shared through Redis")
        # A worker that has detected nothing for a day leaves the totals (and the store).
        one.clock.advance(KEEP_S + 1)
        assert one.plugin.describe_state()["detections"] == {"bash": 2}

    wall = FakeClock(9000.0)  # the hosts agree on wall time, not on their monotonic clocks

    run_hosts(body, Host(redis_server.url, 10.0, wall), Host(redis_server.url, 500.0, wall))
