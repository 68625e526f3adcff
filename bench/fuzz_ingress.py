"""Hostile client bodies against every ingress and provider kind, many more than ``make test``
runs: counts the answers by status and prints every 5xx (the target is none).

In process (the Falcon app with a fake upstream that answers every kind well), so each answer
is about the body alone. ``--cases`` is per ingress, split over the three provider kinds.

Run: ``.venv/bin/python bench/fuzz_ingress.py [--cases 10000] [--seed 0] [--ingress NAME]``;
exits 1 on any 5xx.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from typing import Any

import falcon.testing
from hypothesis import HealthCheck, given, seed, settings

from coderouter.app import create_app
from coderouter.testing.fuzz import (
    INGRESS_PATHS,
    bodies,
    encode,
    fake_upstream_transport,
    fuzz_config,
)

KINDS = ("openai", "anthropic", "openai_responses")


def run_pair(
    ingress: str, kind: str, cases: int, seed_value: int
) -> tuple[Counter[int], list[str]]:
    config = fuzz_config(kind)
    client = falcon.testing.TestClient(create_app(config, transport=fake_upstream_transport()))
    statuses: Counter[int] = Counter()
    failures: list[str] = []

    @seed(seed_value)
    @settings(
        max_examples=cases,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(body=bodies(ingress))
    def check(body: Any) -> None:
        answer = client.simulate_post(
            INGRESS_PATHS[ingress],
            body=encode(body),
            headers={"content-type": "application/json"},
            host="localhost",
        )
        statuses[answer.status_code] += 1
        if answer.status_code >= 500:
            failures.append(f"{answer.status_code} {answer.text[:200]} <- {body!r:.300}")

    check()
    return statuses, failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000, help="bodies per ingress")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ingress", choices=list(INGRESS_PATHS), action="append")
    args = parser.parse_args()
    per_kind = -(-args.cases // len(KINDS))
    print(f"{'ingress':<18}{'provider kind':<18}{'bodies':>8}{'2xx':>8}{'4xx':>8}{'5xx':>6}  s")
    total_5xx = 0
    for ingress in args.ingress or INGRESS_PATHS:
        for kind in KINDS:
            started = time.monotonic()
            statuses, failures = run_pair(ingress, kind, per_kind, args.seed)
            ok = sum(n for s, n in statuses.items() if s < 300)
            client = sum(n for s, n in statuses.items() if 400 <= s < 500)
            server = sum(n for s, n in statuses.items() if s >= 500)
            total_5xx += server
            print(
                f"{ingress:<18}{kind:<18}{sum(statuses.values()):>8}{ok:>8}{client:>8}"
                f"{server:>6}  {time.monotonic() - started:.0f}",
                flush=True,
            )
            for line in failures[:5]:
                print("   ", line)
    print(f"answers >= 500: {total_5xx}")
    return 1 if total_5xx else 0


if __name__ == "__main__":
    sys.exit(main())
