"""``coderouter capabilities [--provider NAME] [--json]``: resolved flags and their sources."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import attrs
import pluggy

from coderouter.config import Config, ProviderConfig
from coderouter.types import Capabilities
from coderouter_capabilities.fields import FIELDS
from coderouter_capabilities.resolve import provider_table_errors

__all__ = ["add_command", "run"]


def add_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "capabilities", help="show what each provider's model can do and where each flag comes from"
    )
    parser.add_argument("--config", dest="config_sub", help=argparse.SUPPRESS)
    parser.add_argument("--provider", help="only this provider")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run)


def _value(value: Any) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _entry(caps: Capabilities | None) -> dict[str, Any]:
    if caps is None:
        return {"flags": {}, "sources": {}}
    flags = attrs.asdict(caps)
    sources = flags.pop("sources")
    return {"flags": {k: v for k, v in flags.items() if v is not None}, "sources": sources}


def _print_provider(provider: ProviderConfig, entry: dict[str, Any]) -> None:
    model = provider.model or "(the client's model)"
    print(f"{provider.name} ({provider.kind}, model {model})")
    width = max(len(f) for f in FIELDS)
    for field in FIELDS:
        value = entry["flags"].get(field)
        source = entry["sources"].get(field, "")
        print(f"  {field:<{width}}  {_value(value):<9}  {source}".rstrip())


def run(args: argparse.Namespace, config: Config, pm: pluggy.PluginManager) -> int:
    errors = provider_table_errors(config)
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 2
    providers = config.providers
    if args.provider:
        providers = [p for p in providers if p.name == args.provider]
        if not providers:
            known = ", ".join(config.provider_names) or "none defined"
            print(f"error: unknown provider {args.provider!r} (known: {known})", file=sys.stderr)
            return 2
    report = {p.name: _entry(pm.hook.capabilities_for(provider=p)) for p in providers}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for i, provider in enumerate(providers):
        if i:
            print()
        _print_provider(provider, report[provider.name])
    return 0
