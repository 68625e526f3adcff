"""Loading plugins: entry points, the ``enabled`` list, order, and each plugin's config.

``[plugins] enabled`` is the whole truth: a plugin installed but not listed is never imported.
Plugins are registered in reverse so pluggy's last-in-first-out call order equals config order.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import logging
import time
from collections.abc import Callable, Collection, Iterable
from importlib import metadata
from typing import TYPE_CHECKING, Any

import attrs
import pluggy

from coderouter import hookspecs
from coderouter.config import Config, ConfigError, structure

if TYPE_CHECKING:
    from coderouter.context import AppContext
    from coderouter.types import RequestView

__all__ = [
    "ENTRY_POINT_GROUP",
    "InstalledPlugin",
    "Plugin",
    "PluginError",
    "attach_plugins",
    "describe_plugins",
    "installed_plugins",
    "load_plugins",
    "plugin_commands",
    "plugin_states",
]

ENTRY_POINT_GROUP = "coderouter"
# A plugin names the CLI subcommands it adds here (``stats = "coderouter_cost:CostPlugin"``), so
# ``coderouter --help`` can list them without importing a plugin that is not enabled.
COMMANDS_GROUP = "coderouter.commands"
CORE_NAME = "coderouter.core"


class PluginError(ConfigError):
    """A plugin could not be found, imported, configured or registered."""


class Plugin:
    """Convenience base class for plugins.

    A plugin class declares ``Config`` (an attrs class). The host structures
    ``[plugins.<name>]`` into it, and each ``[profiles.<p>.plugins.<name>]`` table (merged over
    the plugin-wide one) into a per-profile instance; :meth:`config_for` picks the right one.

    ``clock`` drives every timer (tests pass a fake one). The app attaches every plugin built
    on this class when it is built and at each startup (:meth:`attach`): the plugin adopts the
    app's clock (unless one was given) and :meth:`emit` writes into the request log, with no
    ``startup`` hook of the plugin's own.
    """

    name: str = ""
    Config: type[Any] | None = None

    def __init__(
        self,
        config: Any = None,
        profile_configs: dict[str, Any] | None = None,
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.config = config
        self.profile_configs = profile_configs or {}
        self.clock: Callable[[], float] = clock or time.monotonic
        self.app: AppContext | None = None

    def config_for(self, profile: str) -> Any:
        return self.profile_configs.get(profile, self.config)

    def idle_hooks(self, profile: str) -> Collection[str]:
        """The request hooks this plugin has no work for in ``profile`` (asked once per
        profile and hook; the router then leaves its implementations out of that profile's
        calls). Nothing by default."""
        return ()

    def attach(self, app: AppContext) -> None:
        """Remember the app; take its clock unless this plugin was given its own."""
        self.app = app
        if self.clock is time.monotonic:
            self.clock = app.clock

    def detach(self) -> None:
        self.app = None

    def emit(self, record: dict[str, Any], *, request: RequestView | None = None) -> None:
        """A structured event (``{"event": "guard", ...}``) into the JSON request log, or to
        Python logging when no app is attached. With ``request``, the event carries its
        ``request_id`` (the request log line's ``id``)."""
        if request is not None and request.request_id:
            record.setdefault("request_id", request.request_id)
        if self.app is not None:
            self.app.log.emit(record)
        else:
            name = self.name or type(self).__name__
            logging.getLogger(f"coderouter.{name}").warning("%s", json.dumps(record, default=str))


class AttachedPlugin(Plugin):
    """A :class:`Plugin` that holds the app from ``startup`` to ``shutdown`` (its clock unless
    one was given, its request log for :meth:`emit`); a config left out is ``Config()``."""

    def __init__(self, config: Any = None, *args: Any, **kwargs: Any) -> None:
        if config is None and self.Config is not None:
            config = self.Config()
        super().__init__(config, *args, **kwargs)

    @hookspecs.hookimpl
    def startup(self, app: AppContext) -> None:
        self.attach(app)

    @hookspecs.hookimpl
    def shutdown(self, app: AppContext) -> None:
        self.detach()


def attach_plugins(pm: pluggy.PluginManager, app: Any) -> None:
    """Give every :class:`Plugin` registered in ``pm`` the app (``AppContext``: its clock, the
    request log :meth:`Plugin.emit` writes to). The app does it when it is built and at each
    startup, so a plugin needs no ``startup`` hook to log events."""
    for plugin in pm.get_plugins():
        if isinstance(plugin, Plugin):
            plugin.attach(app)


@attrs.frozen
class InstalledPlugin:
    name: str
    distribution: str
    version: str
    entry_point: str
    description: str = ""


def _entry_points() -> dict[str, metadata.EntryPoint]:
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def _dist_of(ep: metadata.EntryPoint) -> tuple[str, str]:
    dist = ep.dist
    if dist is None:
        return ("unknown", "")
    return (dist.metadata["Name"] or dist.name, dist.version)


def _summary_of(ep: metadata.EntryPoint) -> str:
    """The distribution's one-line description, less the "CodeRouter plugin: " every built-in
    one starts with."""
    summary = (ep.dist.metadata["Summary"] or "") if ep.dist is not None else ""
    return summary.removeprefix("CodeRouter plugin: ").strip()


def installed_plugins() -> list[InstalledPlugin]:
    """Every plugin installed in this environment, enabled or not (nothing is imported)."""
    out = []
    for name, ep in sorted(_entry_points().items()):
        dist, version = _dist_of(ep)
        out.append(InstalledPlugin(name, dist, version, ep.value, _summary_of(ep)))
    return out


def plugin_commands() -> dict[str, str]:
    """CLI subcommand -> the installed plugin that adds it, from distribution metadata alone."""
    by_target = {ep.value: name for name, ep in _entry_points().items()}
    commands: dict[str, str] = {}
    for ep in metadata.entry_points(group=COMMANDS_GROUP):
        plugin = by_target.get(ep.value)
        if plugin is not None:
            commands[ep.name] = plugin
    return commands


def new_plugin_manager(config: Config | None = None) -> pluggy.PluginManager:
    """A plugin manager with the hook specs and the core defaults, and nothing else."""
    from coderouter import core

    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(core.CorePlugin(config), name=CORE_NAME)
    return pm


def load_plugins(config: Config, *, extra: Iterable[tuple[str, Any]] = ()) -> pluggy.PluginManager:
    """Build the plugin manager for ``config``.

    ``extra`` registers already-built plugin objects (``(name, object)``) after the enabled
    ones; tests use it to add a plugin without installing a distribution.
    """
    pm = new_plugin_manager(config)
    eps = _entry_points()
    enabled = config.plugins.enabled
    for name in enabled:
        if name not in eps:
            known = ", ".join(sorted(eps)) or "none installed"
            raise PluginError(
                f"config error in {config.source}: plugins.enabled: unknown plugin {name!r} "
                f"(installed: {known})"
            )
    duplicates = {n for n in enabled if enabled.count(n) > 1}
    if duplicates:
        raise PluginError(
            f"config error in {config.source}: plugins.enabled: listed twice: "
            f"{', '.join(sorted(duplicates))}"
        )
    for name in config.plugins.settings:
        if name not in enabled:
            raise PluginError(
                f"config error in {config.source}: plugins.{name}: settings for a plugin that "
                f"is not enabled (enabled: {', '.join(enabled) or 'none'})"
            )
    for pname, profile in config.profiles.items():
        for name in profile.plugins:
            if name not in enabled:
                raise PluginError(
                    f"config error in {config.source}: profiles.{pname}.plugins.{name}: "
                    f"plugin is not enabled (enabled: {', '.join(enabled) or 'none'})"
                )
    built = [(name, _build(config, name, eps[name])) for name in enabled]
    built.extend(extra)
    for name, plugin in reversed(built):
        _register(pm, name, plugin, eps.get(name))
    pm.hook.check_config(config=config)
    return pm


def _build(config: Config, name: str, ep: metadata.EntryPoint) -> Any:
    dist, version = _dist_of(ep)
    try:
        target = ep.load()
    except Exception as exc:
        raise PluginError(
            f"plugin {name!r} (distribution {dist} {version}) failed to import "
            f"{ep.value}: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(target, type):
        return target
    config_cls = getattr(target, "Config", None)
    if config_cls is None:
        return target()
    global_raw = config.plugins.settings.get(name, {})
    global_cfg = structure(global_raw, config_cls, source=config.source, prefix=f"plugins.{name}")
    per_profile: dict[str, Any] = {}
    for pname, profile in config.profiles.items():
        override = profile.plugins.get(name)
        if override is None:
            continue
        # ``enabled`` is the host's: whether the plugin runs for the profile's requests.
        override = {k: v for k, v in override.items() if k != "enabled"}
        if not override:
            continue
        merged = {**global_raw, **override}
        per_profile[pname] = structure(
            merged, config_cls, source=config.source, prefix=f"profiles.{pname}.plugins.{name}"
        )
    try:
        return target(config=global_cfg, profile_configs=per_profile)
    except (ConfigError, ValueError) as exc:
        raise PluginError(f"config error in {config.source}: plugins.{name}: {exc}") from exc


def _register(
    pm: pluggy.PluginManager, name: str, plugin: Any, ep: metadata.EntryPoint | None
) -> None:
    where = "" if ep is None else " (distribution {} {})".format(*_dist_of(ep))
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {name!r}{where} is invalid: {exc}") from exc
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(_unknown_hook_message(pm, name, where, plugin)) from exc
    if hasattr(plugin, "name") and not getattr(plugin, "name", None):
        with contextlib.suppress(AttributeError):
            plugin.name = name


def _unknown_hook_message(pm: pluggy.PluginManager, name: str, where: str, plugin: Any) -> str:
    """Which of the plugin's hooks are not hooks, the nearest real name for each, and the real
    ones (pluggy keeps a caller for the misspelling too, so only specified hooks are listed)."""
    specified = sorted(
        h for h in dir(pm.hook) if not h.startswith("_") and getattr(pm.hook, h).spec is not None
    )
    unknown = sorted(c.name for c in pm.get_hookcallers(plugin) or [] if c.spec is None)
    problems = []
    for hook in unknown:
        nearest = difflib.get_close_matches(hook, specified, n=1)
        problems.append(f"{hook!r}" + (f" (did you mean {nearest[0]!r}?)" if nearest else ""))
    return (
        f"plugin {name!r}{where} implements an unknown hook: {', '.join(problems)} "
        f"(hooks: {', '.join(specified)})"
    )


def hooks_of(pm: pluggy.PluginManager, plugin: Any) -> list[str]:
    callers = pm.get_hookcallers(plugin) or []
    return sorted(c.name for c in callers)


def describe_plugins(pm: pluggy.PluginManager, config: Config) -> dict[str, Any]:
    """The data behind ``coderouter plugins`` and ``GET /-/plugins``."""
    installed = {p.name: p for p in installed_plugins()}
    enabled = []
    for position, name in enumerate(config.plugins.enabled, start=1):
        plugin = pm.get_plugin(name)
        info = installed.get(name)
        enabled.append(
            {
                "name": name,
                "order": position,
                "distribution": info.distribution if info else "",
                "version": info.version if info else "",
                "description": info.description if info else "",
                "hooks": hooks_of(pm, plugin) if plugin is not None else [],
            }
        )
    return {
        "enabled": enabled,
        "installed": [
            {
                "name": p.name,
                "distribution": p.distribution,
                "version": p.version,
                "description": p.description,
                "enabled": p.name in config.plugins.enabled,
            }
            for p in installed.values()
        ],
    }


def plugin_states(pm: pluggy.PluginManager) -> dict[str, Any]:
    """Each plugin's ``describe_state`` answer, keyed by plugin name."""
    states: dict[str, Any] = {}
    for impl in pm.hook.describe_state.get_hookimpls():
        value = impl.function()
        if value is not None:
            states[impl.plugin_name] = value
    return states
