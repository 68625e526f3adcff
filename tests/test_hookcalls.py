"""HookCalls calls hooks as pluggy does: order, results, partial signatures, changes, wrappers."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pluggy

from coderouter.hookcalls import HookCalls

spec = pluggy.HookspecMarker("t")
impl = pluggy.HookimplMarker("t")


class Spec:
    @spec
    def each_hook(self, a: int, b: int) -> int: ...

    @spec(firstresult=True)
    def first_hook(self, a: int, b: int) -> int: ...


class Both:
    def __init__(self, tag: int, first: int | None = None) -> None:
        self.tag = tag
        self.first = first

    @impl
    def each_hook(self, a: int, b: int) -> int:
        return self.tag * 100 + a * 10 + b

    @impl
    def first_hook(self, a: int, b: int) -> int | None:
        return self.first


class OnlyB:
    @impl
    def each_hook(self, b: int) -> int:
        return b


class NoneAnswer:
    @impl
    def each_hook(self, a: int, b: int) -> None:
        return None


def manager(*plugins: Any) -> pluggy.PluginManager:
    pm = pluggy.PluginManager("t")
    pm.add_hookspecs(Spec)
    for index, plugin in enumerate(plugins):
        pm.register(plugin, name=str(index))
    return pm


def test_results_and_order_match_pluggy() -> None:
    pm = manager(Both(1), NoneAnswer(), OnlyB(), Both(2))
    calls = HookCalls(pm)
    assert calls.each("each_hook", 3, 4) == pm.hook.each_hook(a=3, b=4) == [234, 4, 134]


def test_first_result_matches_pluggy() -> None:
    pm = manager(Both(1, first=7), Both(2, first=None), Both(3, first=9))
    calls = HookCalls(pm)
    assert calls.first("first_hook", 0, 0) == pm.hook.first_hook(a=0, b=0) == 9
    assert HookCalls(manager(Both(1))).first("first_hook", 0, 0) is None


def test_a_plugin_registered_later_is_called() -> None:
    pm = manager(Both(1))
    calls = HookCalls(pm)
    assert calls.each("each_hook", 0, 0) == [100]
    late = Both(5)
    pm.register(late, name="late")
    assert calls.each("each_hook", 0, 0) == [500, 100]
    pm.unregister(late)
    assert calls.each("each_hook", 0, 0) == [100]


class Wrapper:
    @impl(wrapper=True)
    def each_hook(self, a: int, b: int) -> Generator[None, list[int], list[int]]:
        results = yield
        return [*results, -1]


def test_wrappers_are_left_to_pluggy() -> None:
    pm = manager(Both(1), Wrapper())
    assert HookCalls(pm).each("each_hook", 0, 0) == [100, -1]


class IdleIn:
    """Has no work for ``each_hook`` in the profiles it names."""

    def __init__(self, tag: int, *profiles: str) -> None:
        self.tag = tag
        self.profiles = profiles
        self.asked: list[tuple[str, str]] = []

    @impl
    def each_hook(self, a: int, b: int) -> int:
        return self.tag

    def idle_hooks(self, profile: str) -> tuple[str, ...]:
        self.asked.append(("each_hook", profile))
        return ("each_hook",) if profile in self.profiles else ()


def plugin_idle(name: str, plugin: Any, profile: str) -> Any:
    idle = getattr(plugin, "idle_hooks", None)
    return idle(profile) if idle is not None else ()


def test_a_profile_leaves_out_the_plugins_idle_in_it() -> None:
    quiet_in_a = IdleIn(1, "a")
    pm = manager(quiet_in_a, Both(2), IdleIn(3, "a", "b"))
    calls = HookCalls(pm, idle=plugin_idle)
    assert calls.for_profile("a").each("each_hook", 0, 0) == [200]
    assert calls.for_profile("b").each("each_hook", 0, 0) == [200, 1]
    assert calls.for_profile("c").each("each_hook", 0, 0) == [3, 200, 1]
    assert calls.each("each_hook", 0, 0) == [3, 200, 1]  # no profile: everyone
    calls.for_profile("a").each("each_hook", 0, 0)
    assert quiet_in_a.asked == [("each_hook", "a"), ("each_hook", "b"), ("each_hook", "c")]


def test_a_profiles_lists_follow_registrations() -> None:
    pm = manager(IdleIn(1, "a"))
    calls = HookCalls(pm, idle=plugin_idle)
    assert calls.for_profile("a").each("each_hook", 0, 0) == []
    late = Both(5)
    pm.register(late, name="late")
    assert calls.for_profile("a").each("each_hook", 0, 0) == [500]
    pm.unregister(late)
    assert calls.for_profile("a").each("each_hook", 0, 0) == []


def test_a_profile_leaves_out_the_plugins_idle_in_it_when_a_wrapper_is_registered() -> None:
    pm = manager(IdleIn(1, "a"), Both(2), Wrapper())
    calls = HookCalls(pm, idle=plugin_idle)
    assert calls.for_profile("a").each("each_hook", 0, 0) == [200, -1]
    assert calls.for_profile("b").each("each_hook", 0, 0) == [200, 1, -1]
