"""``coderouter status``: one screen of what a running router is doing.

Each profile's chain with every provider's health, circuit, cooldown left, last error and when,
p50 latency and time to first token, requests and spend, read from the router's ``/healthz``,
``/-/plugins`` and (with the metrics plugin) ``/metrics.json``. ``--watch`` redraws it in place
with ``rich``; ``--json`` prints the same data.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from coderouter.config import Config

__all__ = ["StatusError", "collect", "render", "run_status"]

FETCH_TIMEOUT_S = 5.0
MAX_BODY_BYTES = 16 * 1024 * 1024
_JUSTIFY: tuple[Any, ...] = ("left", "left", "right", "right", "right", "right")
HEALTH_STYLE = {"healthy": "green", "degraded": "yellow", "unhealthy": "bold red"}


class StatusError(Exception):
    """The router could not be read."""


def _fetch(url: str, *, missing_ok: bool = False) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_S) as response:
            return json.loads(response.read(MAX_BODY_BYTES))
    except urllib.error.HTTPError as exc:
        if missing_ok and exc.code == 404:
            return None
        raise StatusError(f"{url} answered {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise StatusError(f"cannot read {url}: {reason}") from None


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.0f}s ago"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m ago"
    return f"{seconds / 3600:.1f}h ago"


def _provider_row(
    name: str, metrics: dict[str, Any] | None, health: dict[str, Any] | None, now: float
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "name": name,
        "health": None,
        "circuit": None,
        "cooldown_s": None,
        "last_error": None,
        "last_error_ago_s": None,
        "p50_ms": None,
        "ttft_p50_ms": None,
        "requests": None,
        "spend_usd": None,
    }
    if health is not None:
        row["health"] = health.get("state")
        row["circuit"] = health.get("circuit")
        row["cooldown_s"] = health.get("next_trial_in_s")
        row["last_error"] = health.get("last_error")
        row["last_error_ago_s"] = health.get("last_failure_s_ago")
    if metrics is not None:
        states = [h for h in metrics.get("health", []) if h.get("state")]
        worst = next((h for h in states if h["state"] != "healthy"), None)
        if row["health"] is None and states:
            row["health"] = (worst or states[0])["state"]
        cooldowns = [h["cooldown_s"] for h in states if h.get("cooldown_s")]
        if row["cooldown_s"] is None and cooldowns:
            row["cooldown_s"] = max(cooldowns)
        row["p50_ms"] = (metrics.get("latency_ms") or {}).get("p50")
        row["ttft_p50_ms"] = (metrics.get("ttft_ms") or {}).get("p50")
        today = metrics.get("today") or {}
        row["requests"] = today.get("requests")
        row["spend_usd"] = today.get("cost_usd")
        last = metrics.get("last") or {}
        if row["last_error"] is None and last.get("outcome") not in (None, "success"):
            row["last_error"] = last.get("reason")
            if last.get("ts") is not None:
                row["last_error_ago_s"] = round(max(0.0, now - float(last["ts"])), 1)
    return row


def collect(
    url: str, config: Config | None = None, *, now: Callable[[], float] = time.time
) -> dict[str, Any]:
    """The status as data (what ``--json`` prints)."""
    base = url.rstrip("/")
    health = _fetch(base + "/healthz")
    plugins = _fetch(base + "/-/plugins")
    metrics = _fetch(base + "/metrics.json", missing_ok=True)
    notes: list[str] = []
    state = plugins.get("state", {})
    health_table = (state.get("backend_health") or {}).get("providers", {})
    if "backend_health" not in state:
        notes.append("backend_health is not enabled: no health or circuit state")
    by_name = {p["name"]: p for p in (metrics or {}).get("providers", [])}
    if metrics is not None:
        chains = [(p["name"], p["providers"], p.get("serving")) for p in metrics["profiles"]]
    else:
        notes.append(
            "metrics is not enabled: no latency, requests or spend"
            + (f"; chains from {config.source}" if config is not None else "")
        )
        chains = (
            [(name, p.providers, None) for name, p in config.profiles.items()]
            if config is not None
            else [(name, [], None) for name in health.get("profiles", [])]
        )
    moment = now()
    profiles = [
        {
            "name": name,
            "serving": serving,
            "providers": [
                _provider_row(p, by_name.get(p), health_table.get(p), moment) for p in providers
            ],
        }
        for name, providers, serving in chains
    ]
    today = (metrics or {}).get("summary", {}).get("today", {})
    return {
        "url": base,
        "version": health.get("version"),
        "uptime_s": health.get("uptime_s"),
        "today": today.get("date"),
        "counted_since": _counted_since(today, health.get("uptime_s"), moment),
        "requests": today.get("requests"),
        "errors": today.get("errors"),
        "spend_usd": today.get("cost_usd"),
        "plugins": [p["name"] for p in plugins.get("enabled", [])],
        "profiles": profiles,
        "notes": notes,
    }


def _counted_since(today: dict[str, Any], uptime_s: float | None, now: float) -> float | None:
    """When today's figures begin: the UTC day's start, or the router's start when that came
    later (the figures live in the router's memory and its state dir, not in a ledger)."""
    since = today.get("since")
    if since is None:
        return None
    started = now - uptime_s if uptime_s is not None else since
    return max(float(since), float(started))


def _clock_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M UTC")


def _number(value: float | None, unit: str = "", digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}{unit}"


def _health_cell(row: dict[str, Any]) -> Text:
    state = row["health"] or "-"
    cell = Text(state, style=HEALTH_STYLE.get(state, ""))
    if row["circuit"] and row["circuit"] != "closed":
        cell.append(f", {row['circuit']}")
    if row["cooldown_s"]:
        cell.append(f" {row['cooldown_s']:.0f}s left")
    return cell


def _error_cell(row: dict[str, Any]) -> Text:
    if not row["last_error"]:
        return Text("-")
    return Text(_ago(row["last_error_ago_s"]) or "yes", style="red")


def render(status: dict[str, Any]) -> Group:
    """The screen: a header line, one table per profile with its errors, then the notes."""
    uptime = status.get("uptime_s")
    header = Text.assemble(
        ("coderouter ", "bold"),
        f"{status['version']} at {status['url']}",
        f" · up {_number(uptime, 's')}" if uptime is not None else "",
        f" · today {_number(status['requests'])} requests, {_number(status['errors'])} failed"
        if status["requests"] is not None
        else "",
        f", spend ${status['spend_usd']:.4f}" if status["spend_usd"] else "",
        f" · plugins: {', '.join(status['plugins']) or 'none'}",
    )
    parts: list[Any] = [header]
    for profile in status["profiles"]:
        serving = f" · serving: {profile['serving']}" if profile["serving"] else ""
        rows = [
            [
                Text(row["name"]),
                _health_cell(row),
                Text(_number(row["p50_ms"], " ms")),
                Text(_number(row["ttft_p50_ms"], " ms")),
                Text(_number(row["requests"])),
                Text(f"${row['spend_usd']:.4f}" if row["spend_usd"] else "-"),
                _error_cell(row),
            ]
            for row in profile["providers"]
        ]
        table = Table(title=f"profile {profile['name']}{serving}", title_justify="left")
        for index, column in enumerate(("provider", "health", "p50", "TTFT", "reqs", "spend")):
            table.add_column(column, no_wrap=True, justify=_JUSTIFY[index])
        table.add_column("last error", no_wrap=True)
        for cells in rows:
            table.add_row(*cells)
        parts.append(table)
        # The errors themselves are long: one line each under the table, wrapped.
        parts.extend(
            Text(
                f"  {row['name']}, {_ago(row['last_error_ago_s']) or 'last error'}: "
                f"{row['last_error']}",
                style="red",
            )
            for row in profile["providers"]
            if row["last_error"]
        )
    parts.extend(Text(f"note: {note}", style="dim") for note in status["notes"])
    parts.append(Text(_counting_note(status), style="dim"))
    return Group(*parts)


def _counting_note(status: dict[str, Any]) -> str:
    since = status.get("counted_since")
    if since is None or status.get("today") is None:
        return "requests and spend: no per-day figures (enable the metrics plugin)"
    if since % 86400 == 0:
        return f"requests and spend: today, {status['today']} (UTC)"
    return (
        f"requests and spend: today, {status['today']} (UTC), "
        f"since the router started at {_clock_time(since)}"
    )


def run_status(args: argparse.Namespace, config: Config) -> int:
    from coderouter.launch import local_url

    if args.interval <= 0:
        print(f"error: --interval: must be positive, got {args.interval}", file=sys.stderr)
        return 2
    url = args.url or local_url(config)
    local = None if args.url else config
    # Errors carry text like ":1234:" that rich would otherwise turn into emoji.
    console = Console(width=args.width, emoji=False, markup=False, highlight=False)
    try:
        if args.json:
            print(json.dumps(collect(url, local), indent=2))
            return 0
        if not args.watch:
            console.print(render(collect(url, local)))
            return 0
        return _watch(console, url, local, args.interval, args.count)
    except StatusError as exc:
        print(
            f"error: {exc} (is the router running? start it with: coderouter serve)",
            file=sys.stderr,
        )
        return 1


def _watch(
    console: Console, url: str, config: Config | None, interval_s: float, count: int | None
) -> int:
    shown = 0

    def screen() -> Group:
        return render(collect(url, config))

    with Live(screen(), console=console, auto_refresh=False) as live:
        try:
            while count is None or shown < count:
                shown += 1
                if shown > 1:
                    live.update(screen(), refresh=True)
                if count is None or shown < count:
                    time.sleep(interval_s)
        except KeyboardInterrupt:
            pass
    return 0
