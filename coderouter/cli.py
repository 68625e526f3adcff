"""The ``coderouter`` command: serve | check | plugins | init | claude | codex | status, plus
commands from plugins."""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import pluggy

from coderouter.about import DISTRIBUTION, version
from coderouter.config import (
    Config,
    ConfigError,
    ProviderConfig,
    load_config,
    missing_key_errors,
)
from coderouter.plugins import describe_plugins, load_plugins, plugin_commands
from coderouter.security import require_safe_exposure

__all__ = ["STANDALONE_COMMANDS_GROUP", "main"]

STANDALONE_COMMANDS_GROUP = "coderouter.standalone_commands"
"""Entry points (``name = "module:add_command"``) for commands that work whether or not their
plugin is enabled: tools about the setup itself, such as ``coderouter doctor``. (Commands in
``coderouter.commands`` only name the plugin that adds them once enabled.)"""


def _chain_line(config: Config, profile: str) -> str:
    names = []
    for name in config.profiles[profile].providers:
        provider = config.provider(name)
        tags: list[str] = [provider.kind]
        if provider.paid:
            tags.append("paid" + ("" if config.paid_allowed(profile) else ", skipped"))
        names.append(f"{name} ({', '.join(tags)})")
    return " -> ".join(names)


def _key_note(provider: ProviderConfig) -> str:
    if not provider.api_key_env:
        return "no key"
    state = "set" if provider.api_key else "NOT SET"
    return f"key ${provider.api_key_env} {state}"


def _provider_lines(config: Config) -> list[str]:
    width = max(len(p.name) for p in config.providers)
    client_model = "(the client's)"
    return [
        f"  {p.name:<{width}}  {p.base_url}  model {p.model or client_model}  {_key_note(p)}"
        for p in config.providers
    ]


def _report_missing_keys(config: Config) -> bool:
    """Print the providers that would send requests without their key; True when any."""
    errors = missing_key_errors(config)
    for error in errors:
        print(f"config error in {config.source}: {error}", file=sys.stderr)
    return bool(errors)


def cmd_check(args: argparse.Namespace, config: Config, pm: pluggy.PluginManager) -> int:
    print(f"config: {config.source}")
    print(
        f"listen: http://{config.server.host}:{config.server.port} "
        f"({config.server.workers} worker{'s' if config.server.workers > 1 else ''})"
    )
    print("providers:")
    for line in _provider_lines(config):
        print(line)
    print("profiles:")
    for name in config.profiles:
        marker = " (default)" if name == config.router.default_profile else ""
        print(f"  {name}{marker}: {_chain_line(config, name)}")
    enabled = config.plugins.enabled
    if enabled:
        print("plugins, in call order:")
        for position, name in enumerate(enabled, start=1):
            print(f"  {position}. {name}")
    else:
        print("plugins: none enabled")
    refused = _report_missing_keys(config)
    try:
        # The refusals `serve` makes at startup, in its words.
        require_safe_exposure(config, config.server.host)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        refused = True
    if refused:
        return 2
    print("ok")
    return 0


def cmd_plugins(args: argparse.Namespace, config: Config, pm: pluggy.PluginManager) -> int:
    if args.url:
        return _remote_plugins(args.url, show_state=args.state, as_json=args.json)
    info = describe_plugins(pm, config)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print("enabled, in call order:" if info["enabled"] else "enabled: none")
    for item in info["enabled"]:
        print(f"  {item['order']}. {item['name']} ({item['distribution']} {item['version']})")
        print(f"     hooks: {', '.join(item['hooks']) or 'none'}")
    print("installed:")
    for item in info["installed"]:
        state = "enabled" if item["enabled"] else "not enabled"
        print(f"  {item['name']:<16} [{state}] {item['description']}")
        print(f"  {'':<16} {item['distribution']} {item['version']}")
    if not info["installed"]:
        print("  none")
    if args.state:
        print("state is per worker process; ask the running server with --url")
    return 0


def _remote_plugins(url: str, *, show_state: bool, as_json: bool) -> int:
    target = url.rstrip("/") + "/-/plugins"
    try:
        with urllib.request.urlopen(target, timeout=5) as response:
            info = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"error: cannot read {target}: {exc}", file=sys.stderr)
        return 1
    if as_json:
        print(
            json.dumps(
                info if show_state else {k: v for k, v in info.items() if k != "state"}, indent=2
            )
        )
        return 0
    for item in info.get("enabled", []):
        print(f"{item['order']}. {item['name']} ({item['distribution']} {item['version']})")
        if show_state:
            state = info.get("state", {}).get(item["name"])
            text = json.dumps(state, indent=2) if state is not None else "(no state)"
            print("   " + text.replace("\n", "\n   "))
    if not info.get("enabled"):
        print("no plugins enabled")
    return 0


def cmd_init(args: argparse.Namespace, config: Config | None, pm: Any) -> int:
    from coderouter.starter import STARTER_CONFIG

    path = Path(args.path)
    if path.exists():
        print(f"error: {path} already exists; not overwriting it", file=sys.stderr)
        return 1
    path.write_text(STARTER_CONFIG, encoding="utf-8")
    print(f"wrote {path}; check it with: coderouter check --config {path}")
    return 0


def cmd_serve(args: argparse.Namespace, config: Config, pm: pluggy.PluginManager) -> int:
    from coderouter.server import serve

    if args.port is not None and not 1 <= args.port <= 65535:
        print(f"--port: must be between 1 and 65535, got {args.port}", file=sys.stderr)
        return 2
    if _report_missing_keys(config):
        return 2

    try:
        return serve(config, host=args.host, port=args.port, workers=args.workers)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2


CONFIG_HELP = (
    "config file (default: $CODEROUTER_CONFIG, ./coderouter.toml, "
    "~/.config/coderouter/coderouter.toml, else the built-in default)"
)


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """``--config`` after the subcommand too (``coderouter check --config x.toml``)."""
    parser.add_argument("--config", dest="config_sub", metavar="PATH", help=CONFIG_HELP)


def _plugin_not_enabled(plugin: str) -> Any:
    def run(args: argparse.Namespace, config: Config, pm: pluggy.PluginManager) -> int:
        print(
            f"error: coderouter {args.command} comes from the {plugin} plugin, which is not "
            f"enabled in {config.source}: add {plugin!r} to [plugins] enabled",
            file=sys.stderr,
        )
        return 2

    return run


def add_disabled_plugin_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], enabled: Sequence[str]
) -> None:
    """Installed plugins' subcommands that are not registered because the plugin is off."""
    for command, plugin in sorted(plugin_commands().items()):
        if plugin in enabled or command in sub.choices:
            continue
        # No option prefix: whatever follows (``--since 7d``, ``--help``) is taken as is.
        stub = sub.add_parser(
            command,
            help=f"(from the {plugin} plugin, not enabled)",
            add_help=False,
            prefix_chars="\0",
        )
        stub.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
        stub.set_defaults(func=_plugin_not_enabled(plugin))


def cmd_launch(args: argparse.Namespace, config: Config, pm: pluggy.PluginManager) -> int:
    from coderouter.launch import launch

    return launch(args.command, args.rest, config)


def add_launch_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for client, title in (("claude", "Claude Code"), ("codex", "codex")):
        # No option prefix: every argument after the command reaches the launcher as is.
        launcher = sub.add_parser(
            client,
            help=f"run {title} through the router (starting one if none answers); "
            f"[--keep] [--profile NAME] [ARGS...]",
            add_help=False,
            prefix_chars="\0",
        )
        launcher.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
        launcher.set_defaults(func=cmd_launch)


def cmd_status(args: argparse.Namespace, config: Config, pm: pluggy.PluginManager) -> int:
    from coderouter.status import run_status

    return run_status(args, config)


def add_status_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = sub.add_parser(
        "status",
        help="each profile's chain: health, circuits, errors, latency, requests, spend",
    )
    add_config_option(status)
    status.add_argument("--url", help="the router to ask (default: the configured host and port)")
    status.add_argument("--watch", action="store_true", help="refresh in place until Ctrl-C")
    status.add_argument(
        "--interval", type=float, default=2.0, help="seconds between refreshes (default 2)"
    )
    status.add_argument("--count", type=int, help="with --watch: stop after this many screens")
    status.add_argument("--width", type=int, help=argparse.SUPPRESS)
    status.add_argument("--json", action="store_true", help="print the data as JSON")
    status.set_defaults(func=cmd_status)


def build_parser() -> tuple[argparse.ArgumentParser, Any]:
    parser = argparse.ArgumentParser(
        prog="coderouter", description="Local-first LLM router for coding agents."
    )
    parser.add_argument(
        "--version", action="version", version=f"coderouter {version()} ({DISTRIBUTION})"
    )
    parser.add_argument("--config", metavar="PATH", help=CONFIG_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the router")
    add_config_option(serve)
    serve.add_argument("--host", help="bind address (default: server.host)")
    serve.add_argument("--port", type=int, help="port (default: server.port)")
    serve.add_argument("--workers", type=int, help="worker processes (default: server.workers)")
    serve.set_defaults(func=cmd_serve)

    check = sub.add_parser("check", help="validate the config; print chains and plugins")
    add_config_option(check)
    check.set_defaults(func=cmd_check)

    plugins = sub.add_parser("plugins", help="list installed and enabled plugins")
    add_config_option(plugins)
    plugins.add_argument("--state", action="store_true", help="show each plugin's state")
    plugins.add_argument("--url", help="ask a running router (e.g. http://127.0.0.1:8088)")
    plugins.add_argument("--json", action="store_true", help="print JSON")
    plugins.set_defaults(func=cmd_plugins)

    add_launch_commands(sub)
    add_status_command(sub)

    init = sub.add_parser("init", help="write a commented starter coderouter.toml")
    init.add_argument("path", nargs="?", default="coderouter.toml")
    init.set_defaults(func=cmd_init, needs_config=False)
    return parser, sub


def add_standalone_commands(sub: Any) -> None:
    """Add the commands of the ``coderouter.standalone_commands`` entry points that no
    enabled plugin added already. Each is called with the subparsers, like
    ``register_commands``; one that fails to import is reported and left out."""
    for ep in metadata.entry_points(group=STANDALONE_COMMANDS_GROUP):
        if ep.name in sub.choices:
            continue
        try:
            ep.load()(sub)
        except Exception as exc:
            dist = ep.dist.name if ep.dist is not None else "unknown distribution"
            print(
                f"warning: command {ep.name!r} ({dist}) failed to load: "
                f"{type(exc).__name__}: {exc}",
                file=sys.stderr,
            )


def _config_path(argv: Sequence[str]) -> str | None:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    known, _ = pre.parse_known_args(list(argv))
    value: str | None = known.config
    return value


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader went away (`coderouter plugins --json | head`): stop quietly. Python
        # flushes stdout again at exit, so point it somewhere that accepts the rest.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def _main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, sub = build_parser()
    if argv and argv[0] in ("init", "--version"):
        args = parser.parse_args(argv)
        return int(args.func(args, None, None))
    try:
        config = load_config(_config_path(argv))
        pm = load_plugins(config)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    pm.hook.register_commands(subparsers=sub)
    add_standalone_commands(sub)
    add_disabled_plugin_commands(sub, config.plugins.enabled)
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0
    return int(args.func(args, config, pm))


if __name__ == "__main__":
    raise SystemExit(main())
