"""The request path's hook calls, without pluggy's general-purpose dispatch.

Every request calls the same handful of hooks (``prepare_request``, ``filter_chain``,
``before_attempt``, ...). pluggy's ``HookCaller.__call__`` fills defaults, checks arguments,
copies the implementation list and runs the wrapper-aware multicall on each of them: a few
microseconds per hook with ten plugins, none of it needed when no implementation is a wrapper.
:class:`HookCalls` keeps each hook's implementations as plain functions in pluggy's call order
and calls them in a loop. It rebuilds a hook's list whenever its registered implementations
change, and hands a hook that has wrappers to pluggy unchanged.

:meth:`HookCalls.implemented` says whether any plugin implements a hook, so the router calls
an awaited hook (``admit_attempt``) only when one does, and :meth:`HookCalls.first_awaited`
awaits the implementations' results one by one.

An exception out of an implementation becomes a :class:`PluginHookError` naming the plugin, so
the answer to the client and the log can say whose bug it is.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection
from typing import Any, NoReturn

import pluggy

__all__ = ["HookCalls", "IdleHooks", "PluginHookError"]

Call = Callable[..., Any]


class PluginHookError(Exception):
    """A plugin's hook implementation raised. ``plugin`` and ``hook`` say whose and which; the
    exception it raised is ``error`` (and ``__cause__``, so a logged traceback shows it)."""

    def __init__(self, plugin: str, hook: str, error: Exception) -> None:
        super().__init__(f"plugin {plugin!r} failed in {hook}: {type(error).__name__}: {error}")
        self.plugin = plugin
        self.hook = hook
        self.error = error


def _raise_named(hook: str, caller: pluggy.HookCaller, error: Exception) -> NoReturn:
    """Raise ``error`` as a :class:`PluginHookError` naming the plugin whose implementation
    it came out of (the outermost frame that runs one); unchanged when it came from none."""
    if isinstance(error, PluginHookError):
        raise error
    impls = caller.get_hookimpls()
    owners: dict[Any, str] = {}
    for impl in impls:
        code = getattr(impl.function, "__code__", None)
        if code is not None:
            owners[code] = impl.plugin_name
    tb = error.__traceback__
    while tb is not None:
        owner = owners.get(tb.tb_frame.f_code)
        if owner is not None:
            raise PluginHookError(owner, hook, error) from error
        tb = tb.tb_next
    raise error


def _bound(impl: pluggy.HookImpl, spec_args: tuple[str, ...]) -> Call:
    """``impl``'s function taking the spec's arguments positionally; an implementation may
    declare only some of them (pluggy passes it those)."""
    function = impl.function
    names = tuple(impl.argnames)
    if names == spec_args:
        return function
    positions = tuple(spec_args.index(name) for name in names)

    def call(*args: Any) -> Any:
        return function(*[args[i] for i in positions])

    return call


class _Entry:
    __slots__ = ("caller", "calls", "impls")

    def __init__(
        self,
        impls: list[pluggy.HookImpl],
        calls: tuple[Call, ...] | None,
        caller: pluggy.HookCaller | None = None,
    ) -> None:
        self.impls = impls
        self.calls = calls  # None: a wrapper is registered, pluggy does the call
        self.caller = caller  # with calls None: pluggy's caller without the idle plugins


IdleHooks = Callable[[str, Any, str], Collection[str]]
"""``(plugin name, plugin, profile)``: the hooks that plugin has no work for in that profile."""


class HookCalls:
    """``each(name, *args)`` and ``first(name, *args)``: a hook called with its spec's
    arguments in spec order, as pluggy would (all non-``None`` results in call order, or the
    first one).

    With ``idle``, :meth:`for_profile` gives the calls of one profile's requests: each hook's
    list leaves out the implementations whose plugin has no work for that profile, so they
    cost nothing. The lists are built once per profile and hook (a hook with a wrapper goes
    to pluggy, which is given the hook without the idle plugins)."""

    def __init__(
        self,
        pm: pluggy.PluginManager,
        *,
        idle: IdleHooks | None = None,
        profile: str | None = None,
    ) -> None:
        self.pm = pm
        self._entries: dict[str, _Entry] = {}
        self._idle = idle
        self._profile = profile
        self._profiles: dict[str, HookCalls] = {}

    def for_profile(self, profile: str) -> HookCalls:
        """The hook calls of a request in ``profile``."""
        if self._idle is None or self._profile is not None:
            return self
        found = self._profiles.get(profile)
        if found is None:
            found = self._profiles[profile] = HookCalls(self.pm, idle=self._idle, profile=profile)
        return found

    def _calls(self, name: str) -> tuple[tuple[Call, ...] | None, pluggy.HookCaller]:
        caller: pluggy.HookCaller = getattr(self.pm.hook, name)
        current = caller.get_hookimpls()
        entry = self._entries.get(name)
        if entry is None or entry.impls != current:
            entry = self._entries[name] = self._build(
                self.pm, name, caller, current, self._working(name, current)
            )
        return entry.calls, entry.caller or caller

    def _working(self, name: str, impls: list[pluggy.HookImpl]) -> list[pluggy.HookImpl]:
        idle, profile = self._idle, self._profile
        if idle is None or profile is None:
            return impls
        return [i for i in impls if name not in idle(i.plugin_name, i.plugin, profile)]

    @staticmethod
    def _build(
        pm: pluggy.PluginManager,
        name: str,
        caller: pluggy.HookCaller,
        impls: list[pluggy.HookImpl],
        working: list[pluggy.HookImpl],
    ) -> _Entry:
        if caller.spec is None or any(i.hookwrapper or i.wrapper for i in impls):
            if len(working) == len(impls):
                return _Entry(impls, None)
            # Wrappers need pluggy's call; the idle plugins still stay out of it.
            idle = {id(i.plugin) for i in impls} - {id(i.plugin) for i in working}
            left_out = [i.plugin for i in impls if id(i.plugin) in idle]
            return _Entry(impls, None, pm.subset_hook_caller(name, remove_plugins=left_out))
        spec_args = tuple(caller.spec.argnames)
        # pluggy calls the last registered implementation first.
        return _Entry(impls, tuple(_bound(impl, spec_args) for impl in reversed(working)))

    def each(self, name: str, *args: Any) -> list[Any]:
        calls, caller = self._calls(name)
        try:
            if calls is None:
                assert caller.spec is not None
                result: list[Any] = caller(**dict(zip(caller.spec.argnames, args, strict=True)))
                return result
            results = []
            for call in calls:
                value = call(*args)
                if value is not None:
                    results.append(value)
            return results
        except Exception as exc:
            _raise_named(name, caller, exc)

    def first(self, name: str, *args: Any) -> Any:
        calls, caller = self._calls(name)
        try:
            if calls is None:
                assert caller.spec is not None
                return caller(**dict(zip(caller.spec.argnames, args, strict=True)))
            for call in calls:
                value = call(*args)
                if value is not None:
                    return value
            return None
        except Exception as exc:
            _raise_named(name, caller, exc)

    def implemented(self, name: str) -> bool:
        """Whether any plugin implements hook ``name``."""
        calls, caller = self._calls(name)
        return bool(calls) if calls is not None else bool(caller.get_hookimpls())

    async def first_awaited(self, name: str, *args: Any) -> Any:
        """The first result other than ``None`` of implementations that may return
        awaitables, each awaited before the next implementation is called."""
        calls, caller = self._calls(name)
        try:
            if calls is None:
                assert caller.spec is not None
                values = caller(**dict(zip(caller.spec.argnames, args, strict=True)))
                for index, value in enumerate(values):
                    found = await value if inspect.isawaitable(value) else value
                    if found is not None:
                        for rest in values[index + 1 :]:
                            if inspect.iscoroutine(rest):
                                rest.close()
                        return found
                return None
            for call in calls:
                value = call(*args)
                if inspect.isawaitable(value):
                    value = await value
                if value is not None:
                    return value
            return None
        except Exception as exc:
            _raise_named(name, caller, exc)
