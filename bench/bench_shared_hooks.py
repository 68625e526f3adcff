"""What sharing state through Redis adds to the hooks a request runs.

Cases, each timed over ``--iterations`` calls in rounds that alternate them (a busy machine
then slows them alike):

* ``backend_health admit_attempt, healthy provider``: the awaited admission the router runs
  for every attempt once a plugin implements it (``HookCalls.first_awaited``); a provider
  whose circuit is closed returns at once, without a coroutine;
* ``adaptive after_attempt, embedded`` and ``adaptive after_attempt, Redis feed``: one
  latency sample learnt, with the feed of the embedded store (nobody to tell) and of a Redis
  store (the sample queued for the writer; the store is not started, so this is the hook's
  share only);
* ``Redis feed, the writer's encoding per sample``: what the writer spends per queued sample
  when it sends a batch of 100 (JSON encoding; the round trip itself is off the request path);
* ``Redis feed, another host's sample received``: what the listener spends per sample of a
  batch of 100 another worker published (decoding it and adding it to adaptive's windows):
  each worker pays this for every attempt of every other worker of the fleet.

Reported as the median and 90th percentile per call (wall time) and the process's CPU per
call, in microseconds.

    .venv/bin/python bench/bench_shared_hooks.py [--iterations 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import types
from collections.abc import Callable
from typing import Any

import pluggy
from coderouter_adaptive import AdaptivePlugin
from coderouter_backend_health import BackendHealthConfig, BackendHealthPlugin

from coderouter import hookspecs
from coderouter.config import ProviderConfig, StateConfig
from coderouter.hookcalls import HookCalls
from coderouter.log import RequestLog
from coderouter.state import EmbeddedStore
from coderouter.state.codec import dumps
from coderouter.state.redis_store import RedisStore
from coderouter.types import Attempt, Draft, RequestView, Result, Usage

PROVIDER = ProviderConfig(name="a", base_url="http://127.0.0.1:9/v1")


def attempt() -> Attempt:
    view = RequestView("openai_chat", {"model": "m", "messages": []}, {}, profile="default")
    return Attempt(Draft(view), PROVIDER, 0, "default")


def app(store: Any) -> Any:
    config = types.SimpleNamespace(provider_names=["a"], profiles={})
    return types.SimpleNamespace(
        log=RequestLog(enabled=False), clock=time.monotonic, store=store, config=config
    )


def admit_case() -> Callable[[], Any]:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    plugin = BackendHealthPlugin(BackendHealthConfig(action="skip"))
    plugin.attach(app(EmbeddedStore()))
    pm.register(plugin, name="backend_health")
    calls = HookCalls(pm)
    the_attempt = attempt()

    async def call() -> Any:
        return await calls.first_awaited("admit_attempt", the_attempt)

    return call


def adaptive_case(store: Any) -> Callable[[], Any]:
    plugin = AdaptivePlugin()
    plugin.attach(app(store))
    the_attempt, result = attempt(), Result(200, Usage(), "stop", 0.4, None)

    async def call() -> Any:
        plugin.after_attempt(the_attempt, result)

    return call


def encode_case(store: RedisStore) -> Callable[[], Any]:
    feed = store.feed("bench", lambda item, at: None)
    batch = [[1000.0, {"p": "a", "ok": True, "m": "latency", "s": 0.4}]] * 100

    async def call() -> Any:
        feed.pending.extend(batch)
        dumps({"f": "bench", "w": store.writer, "i": feed.take()})

    return call


def receive_case(store: RedisStore) -> Callable[[], Any]:
    plugin = AdaptivePlugin()
    plugin.attach(app(store))
    now = store.to_wall(time.monotonic())
    batch = [[now, {"p": "a", "ok": True, "m": "latency", "s": 0.4}]] * 100
    message = dumps({"f": "adaptive", "w": "another-host:1:x", "i": batch})

    async def call() -> Any:
        store._on_message(message)

    return call


async def timed(call: Callable[[], Any], n: int, per: int = 1) -> tuple[list[float], float]:
    samples = []
    cpu = time.process_time()
    for _ in range(n):
        start = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - start) / per * 1e6)
    return samples, (time.process_time() - cpu) / (n * per) * 1e6


async def main(iterations: int, rounds: int) -> None:
    redis = RedisStore(
        StateConfig(backend="redis", url="redis://127.0.0.1:9/0", prefix="bench:"),
        clock=time.monotonic,
        log=RequestLog(enabled=False),
    )
    cases: dict[str, tuple[Callable[[], Any], int]] = {
        "backend_health admit_attempt, healthy provider": (admit_case(), 1),
        "adaptive after_attempt, embedded": (adaptive_case(EmbeddedStore()), 1),
        "adaptive after_attempt, Redis feed": (adaptive_case(redis), 1),
        "Redis feed, the writer's encoding per sample": (encode_case(redis), 100),
        "Redis feed, another host's sample received": (receive_case(redis), 100),
    }
    walls: dict[str, list[float]] = {name: [] for name in cases}
    cpus: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, (call, per) in cases.items():
            wall, cpu = await timed(call, iterations // per if per > 1 else iterations, per)
            walls[name] += wall
            cpus[name].append(cpu)
    print("| case | median µs | p90 µs | CPU µs per call |")
    print("|---|---|---|---|")
    for name in cases:
        ordered = sorted(walls[name])
        p90 = ordered[int(len(ordered) * 0.9)]
        print(
            f"| {name} | {statistics.median(ordered):.2f} | {p90:.2f} | "
            f"{statistics.median(cpus[name]):.2f} |"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.iterations, args.rounds))
