"""``coderouter doctor``: probe providers, report, and patch the config.

This module is imported for every ``coderouter`` command (it adds the subcommand), so it
imports the rest of the doctor only when the doctor runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pluggy

    from coderouter.config import Config, ProviderConfig
    from coderouter_doctor.probe import Probe

__all__ = ["add_command", "run"]

PLUGIN_NAME = "doctor"


def add_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="probe every provider, explain what is wrong and patch the config",
        description="Probe providers with real requests. Exit 0: all ok; 2: needs tuning; "
        "1: a failure.",
    )
    parser.add_argument(
        "--config", dest="config_sub", metavar="PATH", help="config file (as before the command)"
    )
    parser.add_argument(
        "--provider",
        action="append",
        default=[],
        metavar="NAME",
        help="only this provider (repeatable)",
    )
    parser.add_argument("--profile", metavar="NAME", help="the providers of this profile")
    parser.add_argument(
        "--probe",
        action="append",
        default=[],
        metavar="NAME",
        help="only this probe (repeatable; reach always runs)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--apply", action="store_true", help="write the patches (keeps a .bak)")
    what.add_argument("--dry-run", action="store_true", help="print the patches as a diff only")
    parser.add_argument(
        "--allow-paid", action="store_true", help="probe paid providers too (costs tokens)"
    )
    parser.add_argument(
        "--env",
        nargs="?",
        const=".env",
        metavar="PATH",
        help="check the file holding the keys instead (default .env)",
    )
    parser.set_defaults(func=run)


def _providers(args: argparse.Namespace, config: Config) -> list[ProviderConfig]:
    """``--provider`` names, else ``--profile``'s chain, else every provider in a profile."""
    if args.provider:
        unknown = [n for n in args.provider if n not in config.provider_names]
        if unknown:
            known = ", ".join(config.provider_names) or "none defined"
            raise ValueError(f"unknown provider {unknown[0]!r} (known: {known})")
        return [config.provider(n) for n in dict.fromkeys(args.provider)]
    if args.profile:
        if args.profile not in config.profiles:
            raise ValueError(
                f"unknown profile {args.profile!r} (known: {', '.join(config.profiles)})"
            )
        names = config.profiles[args.profile].providers
    else:
        names = [n for profile in config.profiles.values() for n in profile.providers]
    return [config.provider(n) for n in dict.fromkeys(names)]


def probes_of(pm: pluggy.PluginManager, only: list[str]) -> list[Probe]:
    """Every probe the plugins contribute (the doctor's own included, enabled or not)."""
    from coderouter_doctor.plugin import DoctorPlugin

    if pm.get_plugin(PLUGIN_NAME) is None:
        pm.register(DoctorPlugin(), name=PLUGIN_NAME)
    probes: list[Probe] = [p for group in pm.hook.doctor_probes() if group for p in group]
    if not only:
        return probes
    known = [p.name for p in probes]
    unknown = [n for n in only if n not in known]
    if unknown:
        raise ValueError(f"unknown probe {unknown[0]!r} (known: {', '.join(known)})")
    return [p for p in probes if p.required or p.name in only]


def run(args: argparse.Namespace, config: Config, pm: pluggy.PluginManager) -> int:
    import asyncio

    from coderouter_doctor.live import ProgressLines
    from coderouter_doctor.report import render_json, render_plain, render_rich, summary
    from coderouter_doctor.runner import exit_code, run_doctor

    if args.env is not None:
        return _env(Path(args.env), config)
    try:
        providers = _providers(args, config)
        probes = probes_of(pm, args.probe)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    progress = ProgressLines(sys.stderr, len(probes))

    def announce(estimates: dict[str, int]) -> None:
        total = sum(estimates.values())
        each = ", ".join(f"{name} ~{tokens}" for name, tokens in estimates.items())
        print(f"probing paid providers spends about {total} tokens ({each})", file=sys.stderr)

    with progress:
        reports = asyncio.run(
            run_doctor(
                config,
                pm,
                providers,
                probes,
                allow_paid=args.allow_paid,
                progress=progress.update,
                announce=announce,
            )
        )
    if args.json:
        print(render_json(reports))
    elif sys.stdout.isatty():
        render_rich(reports, sys.stdout)
        print(summary(reports))
    else:
        print(render_plain(reports))
        print(summary(reports))
    code = exit_code(reports)
    if args.apply or args.dry_run:
        return _write(config, reports, dry_run=args.dry_run, code=code, quiet=args.json)
    return code


def _write(config: Config, reports: Any, *, dry_run: bool, code: int, quiet: bool) -> int:
    from coderouter_doctor.apply import patches_of, write_patches

    path = Path(config.source)
    out = sys.stderr if quiet else sys.stdout
    if not path.is_file():
        print(
            f"error: no config file to patch ({config.source}); write one with coderouter init",
            file=sys.stderr,
        )
        return 1
    outcome = write_patches(path, patches_of(reports), dry_run=dry_run)
    if outcome.diff:
        print(outcome.diff, end="", file=out)
    print(outcome.message, file=sys.stderr if outcome.failed else out)
    return 1 if outcome.failed else code


def _env(path: Path, config: Config) -> int:
    from coderouter_doctor.envcheck import check_env_file, env_exit_code

    findings = check_env_file(path, config)
    for finding in findings:
        print(f"{finding.level:<5}  {finding.message}")
    return env_exit_code(findings)
