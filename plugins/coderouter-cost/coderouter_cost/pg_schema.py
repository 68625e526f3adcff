"""The Postgres ledger's table and statements.

The columns are the SQLite ledger's (:data:`~coderouter_cost.ledger.COLUMNS`, same names, same
meaning) plus two: ``row_id``, made on the host so that a row replayed from the spool is stored
once, and ``xid``, the id of the transaction that wrote it, which lets a reader catch up on rows
committed since its last read without missing one whose transaction was still open then (see
:meth:`~coderouter_cost.pg_ledger.PostgresLedger.refresh`).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from coderouter_cost.ledger import COLUMNS

__all__ = ["INSERT", "SCHEMA", "redact"]

_TYPES = {
    "ts": "double precision",
    "cost_usd": "double precision",
    "savings_usd": "double precision",
    "stream": "integer",
    "status": "integer",
    "priced": "integer",
    "paid": "integer",
}
_TEXT = ("profile", "provider", "model", "ingress", "key_name")
# Several workers start at once: the advisory lock makes the first create the table and the
# others find it (CREATE ... IF NOT EXISTS alone races on the catalog).
SCHEMA_LOCK = 0x636F_7374  # "cost"
SCHEMA = [
    "CREATE TABLE IF NOT EXISTS attempts ("
    "row_id uuid PRIMARY KEY, "
    "xid xid8 NOT NULL DEFAULT pg_current_xact_id(), "
    + ", ".join(
        f"{c} {_TYPES.get(c, 'text' if c in _TEXT else 'bigint')} NOT NULL" for c in COLUMNS
    )
    + ")",
    "CREATE INDEX IF NOT EXISTS attempts_ts ON attempts (ts)",
    "CREATE INDEX IF NOT EXISTS attempts_xid ON attempts (xid)",
]
INSERT = (
    f"INSERT INTO attempts (row_id, {', '.join(COLUMNS)}) "
    f"VALUES ({', '.join('%s' for _ in range(len(COLUMNS) + 1))}) "
    "ON CONFLICT (row_id) DO NOTHING"
)
SNAPSHOT_XMIN = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text"
MONTH_TOTALS = (
    "SELECT provider, profile, key_name, sum(cost_usd) FROM attempts "
    "WHERE ts >= %s AND ts < %s AND xid < %s::xid8 GROUP BY provider, profile, key_name"
)
RECENT = (
    "SELECT row_id::text, xid::text, ts, provider, profile, cost_usd, key_name FROM attempts "
    "WHERE xid >= %s::xid8 AND ts >= %s AND ts < %s"
)
COUNTED_BEFORE = (
    "SELECT row_id::text FROM attempts WHERE row_id = ANY(%s::uuid[]) AND xid < %s::xid8"
)


_PASSWORD_WORD = re.compile(r"\spassword\s*=\s*(?:'(?:[^'\\]|\\.)*'|\S*)")
"""A key/value DSN's ``password`` word as libpq reads it: blanks around ``=`` allowed, the
value bare or single-quoted with backslash escapes."""


def redact(dsn: str) -> str:
    """``dsn`` without its password, for logs, ``GET /-/plugins`` and ``coderouter stats``:
    a URI's ``user:password@`` or ``?password=``, or a ``password=`` word of a key/value DSN."""
    if "://" not in dsn:
        return " ".join(_PASSWORD_WORD.sub(" ", f" {dsn} ").split())
    parts = urlsplit(dsn)
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != "password"])
    netloc = parts.netloc
    if parts.password is not None:
        netloc = f"{parts.username or ''}:***@{netloc.rsplit('@', 1)[1]}"
    return urlunsplit(parts._replace(netloc=netloc, query=query))
