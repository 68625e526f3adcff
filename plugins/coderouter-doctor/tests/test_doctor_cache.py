"""``cache``: two identical calls with a cached block."""

from __future__ import annotations

from typing import Any

from coderouter_doctor.probes import Cache

from coderouter.testing import Answer, anthropic_message

CACHED = {"cache_control": True}


def test_a_cache_read_on_the_second_call_is_ok(probe_once: Any) -> None:
    result = probe_once(
        Cache(nonce="n1"),
        Answer.json(anthropic_message("OK", cache_write=2400)),
        Answer.json(anthropic_message("OK", cache_read=2400)),
        kind="anthropic",
        capabilities=CACHED,
    )
    assert (result.verdict, result.reason) == (
        "ok",
        "the second call read 2400 tokens from the cache",
    )
    first, second = probe_once.upstream.bodies()
    assert first == second
    assert first["system"][0]["cache_control"] == {"type": "ephemeral"}


def test_no_cache_read_declares_no_caching(probe_once: Any) -> None:
    result = probe_once(
        Cache(nonce="n2"),
        Answer.json(anthropic_message("OK")),
        Answer.json(anthropic_message("OK")),
        kind="anthropic",
        capabilities=CACHED,
    )
    assert result.verdict == "needs_tuning"
    assert result.patch.describe() == "providers[local].capabilities.cache_control = false"


def test_providers_without_declared_caching_are_skipped(probe_once: Any) -> None:
    assert probe_once(Cache(), kind="anthropic").verdict == "skip"
    assert probe_once(Cache(), capabilities=CACHED).reason == "not an Anthropic-kind provider"
    assert probe_once.upstream.count == 0
