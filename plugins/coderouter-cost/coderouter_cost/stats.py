"""``coderouter stats``: requests, tokens, cost and cache savings read from the ledger.

It reads the configured ledger directly: the SQLite file (WAL readers never block the writers)
or the Postgres database, so it works while the server runs and after it stopped.
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pluggy
import psycopg

from coderouter.config import Config, ConfigError
from coderouter_cost.ledger import connect, has_column, month_bounds
from coderouter_cost.pricing import usd

if TYPE_CHECKING:
    from coderouter_cost.plugin import CostPlugin

__all__ = ["Group", "add_stats_command", "parse_since", "query", "render_text"]

GROUPINGS = {
    "provider": "provider",
    "profile": "profile",
    "model": "model",
    "key": "key_name",
    "day": "strftime('%Y-%m-%d', ts, 'unixepoch')",
}


@attrs.frozen
class Dialect:
    """How the two ledgers' SQL differs: the parameter marker and the UTC day of ``ts``."""

    param: str
    day: str


SQLITE = Dialect("?", GROUPINGS["day"])
POSTGRES = Dialect("%s", "to_char(to_timestamp(ts) AT TIME ZONE 'UTC', 'YYYY-MM-DD')")
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([mhdw])$")


@attrs.define
class Group:
    key: str
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: float = 0.0
    savings_usd: float = 0.0
    unpriced_paid: int = 0

    @property
    def cache_hit_rate(self) -> float | None:
        """Cache reads as a share of every prompt token (fresh, read and written)."""
        prompt = self.input_tokens + self.cache_read_tokens + self.cache_write_tokens
        return self.cache_read_tokens / prompt if prompt else None

    def as_json(self) -> dict[str, Any]:
        data = attrs.asdict(self)
        data["cost_usd"] = round(self.cost_usd, 6)
        data["savings_usd"] = round(self.savings_usd, 6)
        rate = self.cache_hit_rate
        data["cache_hit_rate"] = None if rate is None else round(rate, 4)
        return data


def parse_since(text: str, now: float) -> float:
    """``7d``, ``24h``, ``30m``, ``2w``, ``month`` (this UTC month) or a UTC date/time."""
    value = text.strip().lower()
    if value == "month":
        return month_bounds(now)[1]
    relative = _RELATIVE.match(value)
    if relative:
        return now - float(relative.group(1)) * _UNITS[relative.group(2)]
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"--since: expected 7d, 24h, 30m, 2w, 'month' or a date like 2026-11-01, got {text!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def query(conn: Any, *, by: str, since: float | None, dialect: Dialect = SQLITE) -> list[Group]:
    """Groups of rows since ``since``, on a SQLite or psycopg connection."""
    key = dialect.day if by == "day" else GROUPINGS[by]
    if by == "key" and dialect is SQLITE and not has_column(conn, "key_name"):
        key = "''"  # a ledger no router opened since the column came: every row is keyless
    order = "k" if by == "day" else "sum(cost_usd) DESC, count(*) DESC, k"
    rows = conn.execute(
        f"SELECT {key} AS k, count(*), sum(input_tokens), sum(output_tokens), "
        f"sum(cache_read_tokens), sum(cache_write_tokens), sum(reasoning_tokens), "
        f"sum(cost_usd), sum(savings_usd), "
        f"sum(CASE WHEN paid <> 0 AND priced = 0 THEN 1 ELSE 0 END) "
        f"FROM attempts WHERE ts >= {dialect.param} GROUP BY k ORDER BY {order}",
        (since if since is not None else float("-inf"),),
    ).fetchall()
    # Postgres sums integers as numeric: every count is made an int, every amount a float.
    return [
        Group(
            str(r[0]),
            requests=int(r[1]),
            input_tokens=int(r[2]),
            output_tokens=int(r[3]),
            cache_read_tokens=int(r[4]),
            cache_write_tokens=int(r[5]),
            reasoning_tokens=int(r[6]),
            cost_usd=float(r[7]),
            savings_usd=float(r[8]),
            unpriced_paid=int(r[9]),
        )
        for r in rows
    ]


def total_of(groups: Sequence[Group]) -> Group:
    total = Group("total")
    counts = [field.name for field in attrs.fields(Group) if field.name != "key"]
    for g in groups:
        for name in counts:
            setattr(total, name, getattr(total, name) + getattr(g, name))
    return total


def month_spend(
    conn: Any, now: float, dialect: Dialect = SQLITE
) -> tuple[str, dict[str, dict[str, float]]]:
    label, start, end = month_bounds(now)
    spent = _no_spend()
    key = "key_name" if dialect is POSTGRES or has_column(conn, "key_name") else "''"
    rows = conn.execute(
        f"SELECT provider, profile, {key} AS k, sum(cost_usd) FROM attempts "
        f"WHERE ts >= {dialect.param} AND ts < {dialect.param} GROUP BY provider, profile, k",
        (start, end),
    ).fetchall()
    for provider, profile, key_name, cost in rows:
        for kind, name in (
            ("provider", provider),
            ("profile", profile),
            ("key", key_name),
            ("total", ""),
        ):
            spent[kind][name] = spent[kind].get(name, 0.0) + float(cost)
    return label, spent


def _no_spend() -> dict[str, dict[str, float]]:
    return {"provider": {}, "profile": {}, "key": {}, "total": {}}


def budget_lines(
    budgets: dict[str, Any], month: str, spent: dict[str, dict[str, float]]
) -> list[dict[str, Any]]:
    lines = []
    for name, limit in budgets["providers"].items():
        lines.append(
            {
                "scope": "provider",
                "name": name,
                "budget_usd": limit,
                "spent_usd": round(spent["provider"].get(name, 0.0), 6),
            }
        )
    if budgets["total"] is not None:
        lines.append(
            {
                "scope": "total",
                "name": "paid providers",
                "budget_usd": budgets["total"],
                "spent_usd": round(spent["total"].get("", 0.0), 6),
            }
        )
    for name, limit in budgets["profiles"].items():
        lines.append(
            {
                "scope": "profile",
                "name": name,
                "budget_usd": limit,
                "spent_usd": round(spent["profile"].get(name, 0.0), 6),
            }
        )
    for name, limit in budgets.get("keys", {}).items():
        lines.append(
            {
                "scope": "key",
                "name": name,
                "budget_usd": limit,
                "spent_usd": round(spent["key"].get(name, 0.0), 6),
            }
        )
    for line in lines:
        line["month"] = month
        line["reached"] = line["spent_usd"] >= line["budget_usd"]
    return lines


def _int(n: int) -> str:
    return f"{n:,}"


def render_text(
    groups: Sequence[Group],
    *,
    by: str,
    ledger: str,
    period: str,
    budgets: Sequence[dict[str, Any]],
) -> str:
    head = [
        by.upper(),
        "REQUESTS",
        "INPUT",
        "OUTPUT",
        "CACHE READ",
        "CACHE WRITE",
        "CACHE HIT",
        "COST $",
        "SAVED $",
    ]
    table = [head]
    for g in [*groups, total_of(groups)]:
        rate = g.cache_hit_rate
        table.append(
            [
                g.key or ("(none)" if by == "key" else ""),
                _int(g.requests),
                _int(g.input_tokens),
                _int(g.output_tokens),
                _int(g.cache_read_tokens),
                _int(g.cache_write_tokens),
                "-" if rate is None else f"{rate:.1%}",
                f"{g.cost_usd:,.4f}",
                f"{g.savings_usd:,.4f}",
            ]
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]

    def line(row: list[str]) -> str:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        return "  ".join(cells).rstrip()

    out = [f"cost ledger: {ledger}", f"period: {period}", ""]
    if groups:
        out += [
            line(table[0]),
            *(line(r) for r in table[1:-1]),
            "-" * len(line(table[0])),
            line(table[-1]),
        ]
    else:
        out.append("no requests recorded in this period")
    unpriced = total_of(groups).unpriced_paid
    if unpriced:
        out += [
            "",
            f"note: {unpriced} request(s) on paid providers had no known price and count "
            f"as $0; give those providers a [providers.cost] table",
        ]
    if budgets:
        out += ["", f"monthly budgets ({budgets[0]['month']}, UTC):"]
        width = max(len(f"{b['scope']} {b['name']}") for b in budgets)
        for b in budgets:
            share = b["spent_usd"] / b["budget_usd"] if b["budget_usd"] else 1.0
            flag = "  REACHED" if b["reached"] else ""
            out.append(
                f"  {(b['scope'] + ' ' + b['name']).ljust(width)}  "
                f"{usd(b['spent_usd'])} of {usd(b['budget_usd'])} ({share:.0%}){flag}"
            )
    return "\n".join(out)


def add_stats_command(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], plugin: CostPlugin
) -> None:
    parser = subparsers.add_parser(
        "stats",
        help="requests, tokens, cost and cache savings from the cost ledger",
        description="Read the cost ledger: requests, tokens by class, cost, cache hit rate "
        "(cache reads / all prompt tokens) and what the cache saved.",
    )
    parser.add_argument("--config", dest="config_sub", help=argparse.SUPPRESS)
    parser.add_argument(
        "--since",
        help="7d, 24h, 30m, 2w, 'month' or a UTC date such as "
        "2026-11-01 (default: everything recorded)",
    )
    parser.add_argument(
        "--by",
        choices=list(GROUPINGS),
        default="provider",
        help="group rows by (default: provider)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument(
        "--ledger", help="a SQLite ledger file to read (default: the configured ledger)"
    )

    def run(args: argparse.Namespace, config: Config, pm: pluggy.PluginManager) -> int:
        return run_stats(plugin, args, config)

    parser.set_defaults(func=run)


def run_stats(plugin: CostPlugin, args: argparse.Namespace, config: Config) -> int:
    try:
        plugin.bind(config)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    now = plugin.clock()
    try:
        since = parse_since(args.since, now) if args.since else None
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    since_text = (
        datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%d %H:%M UTC")
        if since is not None
        else None
    )
    period = f"since {since_text} ({args.since})" if since_text else "everything recorded"
    groups: list[Group] = []
    month, spent = month_bounds(now)[0], _no_spend()
    if plugin.pg is not None and not args.ledger:
        where = plugin.pg.where
        try:
            with psycopg.connect(plugin.pg.dsn, connect_timeout=10) as pg:
                groups = query(pg, by=args.by, since=since, dialect=POSTGRES)
                month, spent = month_spend(pg, now, POSTGRES)
        except psycopg.errors.UndefinedTable:
            pass  # no host has started on this database yet
        except psycopg.Error as exc:
            print(f"error: cannot read cost ledger {where}: {exc}", file=sys.stderr)
            return 1
    else:
        if args.ledger:
            path = Path(args.ledger).expanduser()
        else:
            assert plugin.ledger is not None
            path = plugin.ledger.path
        where = str(path)
        if path.is_file():
            try:
                conn = connect(path, busy_timeout_ms=plugin.config.busy_timeout_ms, create=False)
                try:
                    groups = query(conn, by=args.by, since=since)
                    month, spent = month_spend(conn, now)
                finally:
                    conn.close()
            except sqlite3.Error as exc:
                print(f"error: cannot read cost ledger {path}: {exc}", file=sys.stderr)
                return 1
    budgets = budget_lines(plugin.budgets(), month, spent)
    if args.json:
        print(
            json.dumps(
                {
                    "ledger": where,
                    "since": since_text,
                    "by": args.by,
                    "groups": [g.as_json() for g in groups],
                    "total": total_of(groups).as_json(),
                    "budgets": budgets,
                },
                indent=2,
            )
        )
    else:
        print(render_text(groups, by=args.by, ledger=where, period=period, budgets=budgets))
    return 0
