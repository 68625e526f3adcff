"""Hostile client bodies never get a 5xx: each ingress against each provider kind, in process,
with a fake upstream that answers well. Errors come in the ingress's own wire format.

A fixed-seed run of a few hundred bodies per pair; ``bench/fuzz_ingress.py`` runs many more.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from coderouter.testing.fuzz import (
    INGRESS_PATHS,
    bodies,
    encode,
    fake_upstream_transport,
    fuzz_config,
)

KINDS = ("openai", "anthropic", "openai_responses")
CASES = 150


def error_shape_ok(ingress: str, answer: Any) -> bool:
    data = answer.json
    if ingress in ("anthropic", "count_tokens"):
        return bool(data.get("type") == "error" and isinstance(data["error"]["message"], str))
    return isinstance(data.get("error"), dict) and isinstance(data["error"]["message"], str)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("ingress", list(INGRESS_PATHS))
def test_hostile_bodies_never_get_a_5xx(app_client: Any, ingress: str, kind: str) -> None:
    config = fuzz_config(kind)
    client = app_client(config, transport=fake_upstream_transport())
    statuses: dict[int, int] = {}

    @settings(
        max_examples=CASES,
        derandomize=True,
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
        )
        statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
        assert answer.status_code < 500, (answer.status_code, answer.text[:300])
        if answer.status_code >= 400:
            assert error_shape_ok(ingress, answer), answer.text[:300]

    check()
    assert sum(statuses.values()) >= CASES
    assert statuses.get(200, 0) > 0 and statuses.get(400, 0) > 0, statuses
