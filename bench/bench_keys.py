"""What ingress keys cost a request: the guard's ``process_request`` on one model request.

Configurations, each a fresh :class:`~coderouter.resources.guard.IngressGuard` over the same
request (``POST /v1/messages`` with ``x-api-key``, ``Host: localhost``, JSON):

* ``no keys``: the keyless default (the ``Host`` and content-type checks only);
* ``api_keys_env, 1 key`` and ``[[server.keys]], 30 keys``: the key is hashed once and its
  digest compared with every key's (the request sends the last key, so every comparison runs);
* ``30 keys, rate limited``: the same with ``requests_per_minute`` on the key, a token taken
  from the embedded store's bucket;
* ``30 keys, rate limited, Redis`` (with ``--redis``): the bucket in a real ``redis-server``
  on loopback (one Lua script per request);
* ``key_matches, 30 raw keys``: the comparison the guard made before keys had names
  (constant-time comparison of the raw key with every key), for reference.

Reported as the median and 90th percentile of ``--iterations`` calls (wall time), and this
process's CPU per call, in microseconds, in rounds that alternate the configurations (a busy
machine then slows them alike).

    .venv/bin/python bench/bench_keys.py [--iterations 20000] [--rounds 5] [--redis]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import statistics
import time
from collections.abc import Callable
from typing import Any

import falcon.asgi
import falcon.testing

from coderouter.config import StateConfig
from coderouter.log import RequestLog
from coderouter.resources.guard import IngressGuard
from coderouter.security import KeyRing, key_matches, key_ring
from coderouter.state.redis_store import RedisStore
from coderouter.testing import ConfigBuilder, RedisServer

KEYS = 30


def ring(count: int, *, rate: float | None = None) -> KeyRing:
    keys = [
        {
            "name": f"dev{i}",
            "sha256": hashlib.sha256(f"key-{i}".encode()).hexdigest(),
            **({"requests_per_minute": rate, "burst": 10**9} if rate else {}),
        }
        for i in range(count)
    ]
    config = (
        ConfigBuilder()
        .provider("local", "http://127.0.0.1:9/v1")
        .profile("default", ["local"])
        .server(keys=keys)
        .build()
    )
    return key_ring(config)


def request(key: str) -> tuple[falcon.asgi.Request, falcon.asgi.Response]:
    req = falcon.testing.create_asgi_req(
        method="POST",
        path="/v1/messages",
        host="localhost",
        headers={"content-type": "application/json", "x-api-key": key},
    )
    return req, falcon.asgi.Response()


def guard_case(keys: KeyRing, key: str, store: Any = None) -> Callable[[], Any]:
    guard = IngressGuard(keys, frozenset(), store)
    req, resp = request(key)

    async def once() -> None:
        await guard.process_request(req, resp)
        assert not resp.complete

    return once


def matches_case(count: int, key: str) -> Callable[[], Any]:
    raw = [f"key-{i}".encode() for i in range(count)]
    offered = key.encode()

    async def once() -> None:
        assert key_matches(offered, raw)

    return once


async def measure(once: Callable[[], Any], iterations: int) -> tuple[list[float], float]:
    """Wall time of each call and the CPU of them all, in microseconds."""
    samples = []
    clock = time.perf_counter_ns
    cpu = time.process_time_ns()
    for _ in range(iterations):
        start = clock()
        await once()
        samples.append((clock() - start) / 1000)
    return samples, (time.process_time_ns() - cpu) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--redis", action="store_true", help="also the bucket in redis-server")
    args = parser.parse_args()
    last = f"key-{KEYS - 1}"
    single = (hashlib.sha256(b"key-0").digest(), "default")
    cases: dict[str, Callable[[], Any]] = {
        "no keys": guard_case(KeyRing(), ""),
        "api_keys_env, 1 key": guard_case(KeyRing((single,)), "key-0"),
        f"[[server.keys]], {KEYS} keys": guard_case(ring(KEYS), last),
        f"{KEYS} keys, rate limited": guard_case(ring(KEYS, rate=60.0), last),
        f"key_matches, {KEYS} raw keys": matches_case(KEYS, last),
    }
    found: dict[str, list[float]] = {}
    cpu: dict[str, float] = {}

    async def run() -> None:
        redis = store = None
        if args.redis:
            redis = RedisServer()
            config = StateConfig(backend="redis", url=redis.url, prefix="bench:")
            store = RedisStore(config, clock=time.monotonic, log=RequestLog(enabled=False))
            await store.start()
            cases[f"{KEYS} keys, rate limited, Redis"] = guard_case(
                ring(KEYS, rate=60.0), last, store
            )
        try:
            for _ in range(args.rounds):
                for name, once in cases.items():
                    samples, spent = await measure(once, args.iterations // args.rounds)
                    found.setdefault(name, []).extend(samples)
                    cpu[name] = cpu.get(name, 0.0) + spent
        finally:
            if store is not None:
                await store.stop()
            if redis is not None:
                redis.close()

    asyncio.run(run())
    width = max(len(name) for name in found)
    print(f"{'case'.ljust(width)}  median µs  p90 µs  CPU µs/call")
    for name, samples in found.items():
        samples.sort()
        p90 = samples[int(len(samples) * 0.9)]
        print(
            f"{name.ljust(width)}  {statistics.median(samples):9.2f}  {p90:6.2f}  "
            f"{cpu[name] / len(samples):11.2f}"
        )


if __name__ == "__main__":
    main()
