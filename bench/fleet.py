"""Several hosts on one Redis (``[state] backend = "redis"``): budgets, a killed host, circuits,
and the CPU a request costs with Redis against the embedded default.

* ``budget``: three ``coderouter serve`` hosts, 64 concurrent clients each, against one total
  budget; every client sends until it gets 429. Prints the spend Redis and the ledgers hold
  against the budget, and the bound it must stay within: the requests in flight times what an
  answer may cost beyond its reservation (the prompt estimate falls short of the upstream's
  reported prompt tokens by a few tokens).
* ``kill``: 64 clients hold reservations on one host whose upstream hangs; the host (server
  and worker) gets SIGKILL; prints the reservations left right after and once the TTL passed.
* ``circuit``: ``bench/fleet_circuit.py``'s figure (a circuit opened through one host, seen on
  the two others).
* ``cpu``: one host, one worker, cost plugin with a budget, embedded against Redis, measured
  back to back in alternating rounds with ``bench/loadgen.py`` (its own process) watching the
  worker's utime+stime; the median of the rounds per configuration, and the median of the
  per-round differences.

    .venv/bin/python bench/fleet.py                       # all four
    .venv/bin/python bench/fleet.py --parts cpu --rounds 7
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import redis
from coderouter_cost.fleet import input_tokens

from coderouter.testing import (
    Answer,
    ConfigBuilder,
    FakeUpstream,
    RedisServer,
    RouterProcess,
    chat_completion,
    free_port,
)
from coderouter.types import RequestView

BENCH = Path(__file__).resolve().parent
PAID = {"CODEROUTER_ALLOW_PAID": "1"}
PREFIX = "bench:"
# $0.001 per prompt token, $0.01 per output token: the budget part's answer (40 prompt, 5
# output tokens) costs $0.09.
PRICE = {"input_per_mtok": 1000.0, "output_per_mtok": 10_000.0}
BODY: dict[str, Any] = {
    "model": "m",
    "max_tokens": 5,
    "messages": [{"role": "user", "content": "hi"}],
}


def host_config(
    folder: Path, upstream: str, *, redis_url: str | None, budget: float, **cost: Any
) -> Path:
    builder = ConfigBuilder()
    builder.provider("paid", upstream, paid=True, model="bench-model", cost=PRICE)
    builder.profile("default", ["paid"])
    builder.router(state_dir=str(folder / "state"), log_requests=False)
    builder.server(graceful_timeout_s=5)
    builder.plugin("cost", monthly_budget_usd=budget, **cost)
    if redis_url is not None:
        builder.state(backend="redis", url=redis_url, prefix=PREFIX)
    folder.mkdir(parents=True)
    return builder.write(folder)


def budget_key(part: str) -> str:
    return f"{PREFIX}{{budget}}:{time.strftime('%Y-%m', time.gmtime())}:total:{part}"


def worker_pid(host: RouterProcess) -> int:
    pid = host.process.pid
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        if children:
            return int(children[0])
    raise RuntimeError("no worker process")


# --- budget ----------------------------------------------------------------------------------


async def clients(urls: list[str], per_host: int) -> dict[str, Any]:
    """``per_host`` clients per host, each sending until its first 429."""
    answered: list[float] = []
    other: dict[int, int] = {}
    errors: dict[str, int] = {}
    in_flight = 0
    peak = 0

    async def client(url: str, http: httpx.AsyncClient) -> None:
        nonlocal in_flight, peak
        while True:
            in_flight += 1
            peak = max(peak, in_flight)
            try:
                response = await http.post(url + "/v1/chat/completions", json=BODY)
            except httpx.TransportError as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                continue
            finally:
                in_flight -= 1
            if response.status_code == 200:
                answered.append(float(response.headers["x-coderouter-cost-usd"]))
                continue
            other[response.status_code] = other.get(response.status_code, 0) + 1
            return

    limits = httpx.Limits(max_connections=len(urls) * per_host)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(url, http) for url in urls for _ in range(per_host)))
        elapsed = time.perf_counter() - started
    return {
        "answered": answered,
        "other": other,
        "errors": errors,
        "peak": peak,
        "elapsed_s": elapsed,
    }


def reserved_per_request() -> float:
    size = len(httpx.Request("POST", "http://h", json=BODY).content)
    tokens = input_tokens(RequestView("openai_chat", BODY, {"content-length": str(size)}))
    return (tokens * PRICE["input_per_mtok"] + 5 * PRICE["output_per_mtok"]) / 1e6


def part_budget(root: Path, redis_server: RedisServer, per_host: int, budget: float) -> None:
    # The upstream reports more prompt tokens than the router estimates, so each answer costs
    # more than its reservation and the bound is not trivially zero.
    upstream = FakeUpstream(Answer.hang(0.05, chat_completion("fine", prompt_tokens=40)))
    hosts = [
        RouterProcess(
            host_config(
                root / f"b{n}", upstream.url + "/v1", redis_url=redis_server.url, budget=budget
            ),
            env=PAID,
        )
        for n in range(3)
    ]
    try:
        found = asyncio.run(clients([h.url for h in hosts], per_host))
        store = redis.Redis.from_url(redis_server.url, decode_responses=True)
        deadline = time.monotonic() + 10
        while store.zcard(budget_key("holds")) and time.monotonic() < deadline:
            time.sleep(0.05)
        spent = float(store.get(budget_key("spent")) or 0)
        holds = int(store.zcard(budget_key("holds")))
        store.close()
    finally:
        for host in hosts:
            host.stop()
        upstream.close()
    answered = found["answered"]
    actual = max(answered) if answered else 0.0
    reserved = reserved_per_request()
    beyond = max(0.0, actual - reserved)
    print(f"budget: 3 hosts x {per_host} clients, total budget ${budget:.2f}")
    print(
        f"  answered {len(answered)} requests in {found['elapsed_s']:.1f} s, "
        f"refused {found['other']}, connection errors {found['errors'] or 0}, "
        f"peak in flight {found['peak']}"
    )
    print(
        f"  spent ${spent:.4f} (clients' cost headers: ${sum(answered):.4f}); "
        f"overspend ${max(0.0, spent - budget):.4f}"
    )
    print(
        f"  reserved ${reserved:.4f} per request, an answer costs ${actual:.4f}: bound "
        f"{found['peak']} in flight x ${beyond:.4f} = ${found['peak'] * beyond:.4f}; "
        f"reservations left: {holds}"
    )


# --- kill ------------------------------------------------------------------------------------


def part_kill(root: Path, redis_server: RedisServer, clients_n: int, ttl_s: float) -> None:
    hang = FakeUpstream(Answer.hang(60, chat_completion("late")))
    fine = FakeUpstream()
    victim, other = (
        RouterProcess(
            host_config(
                root / f"k{n}",
                upstream.url + "/v1",
                redis_url=redis_server.url,
                budget=1e6,
                reservation_ttl_s=ttl_s,
            ),
            env=PAID,
        )
        for n, upstream in enumerate((hang, fine))
    )
    store = redis.Redis.from_url(redis_server.url, decode_responses=True)
    procs = [
        subprocess.Popen(
            [
                "curl",
                "-s",
                "-o",
                "/dev/null",
                "-m",
                "60",
                "-H",
                "content-type: application/json",
                "-d",
                json.dumps(BODY),
                victim.url + "/v1/chat/completions",
            ]
        )
        for _ in range(clients_n)
    ]
    try:
        deadline = time.monotonic() + 20
        while store.zcard(budget_key("holds")) < clients_n:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {store.zcard(budget_key('holds'))} reservations")
            time.sleep(0.02)
        victim.kill()
        killed = time.monotonic()
        left = int(store.zcard(budget_key("holds")))
        time.sleep(max(0.0, ttl_s + 0.1 - (time.monotonic() - killed)))
        # The next reservation's script drops the expired ones.
        httpx.post(other.url + "/v1/chat/completions", json=BODY, timeout=10)
        deadline = time.monotonic() + 5
        while store.zcard(budget_key("holds")) and time.monotonic() < deadline:
            time.sleep(0.02)
        after = int(store.zcard(budget_key("holds")))
        held = float(store.get(budget_key("held")) or 0)
    finally:
        for proc in procs:
            proc.kill()
        other.stop()
        store.close()
        hang.close()
        fine.close()
    print(f"kill: {clients_n} requests in flight on a host killed with SIGKILL (TTL {ttl_s:g} s)")
    print(f"  reservations right after the kill: {left}; after the TTL: {after} (held ${held:.4f})")


# --- cpu -------------------------------------------------------------------------------------


def loadgen(url: str, worker: int, requests: int, concurrency: int = 16) -> float:
    argv = [
        sys.executable,
        str(BENCH / "loadgen.py"),
        "--url",
        url,
        "--concurrency",
        str(concurrency),
        "--requests",
        str(requests),
        "--warmup",
        "200",
        "--watch-pid",
        f"worker={worker}",
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=True)
    result = json.loads(done.stdout)
    if result.get("errors") or not result.get("ok"):
        raise SystemExit(f"loadgen errors: {done.stdout[:500]}")
    return float(result["cpu_s"]["worker"]) / float(result["ok"]) * 1000


def part_cpu(
    root: Path, redis_server: RedisServer, rounds: int, requests: int, concurrency: int
) -> None:
    port = free_port()
    upstream = subprocess.Popen(
        [sys.executable, str(BENCH / "fake_upstream.py"), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/v1"
    hosts = {
        "embedded": RouterProcess(
            host_config(root / "c-embedded", base, redis_url=None, budget=1e9), env=PAID
        ),
        "redis": RouterProcess(
            host_config(root / "c-redis", base, redis_url=redis_server.url, budget=1e9), env=PAID
        ),
    }
    runs: dict[str, list[float]] = {name: [] for name in hosts}
    try:
        workers = {name: worker_pid(host) for name, host in hosts.items()}
        for name, host in hosts.items():
            loadgen(host.url, workers[name], 500)  # imports, connection pools
        for n in range(rounds):
            order = list(hosts) if n % 2 == 0 else list(reversed(hosts))
            for name in order:
                runs[name].append(loadgen(hosts[name].url, workers[name], requests, concurrency))
            print(f"  round {n + 1}: " + ", ".join(f"{k} {v[-1]:.3f} ms" for k, v in runs.items()))
    finally:
        for host in hosts.values():
            host.stop()
        upstream.kill()
    diffs = [r - e for r, e in zip(runs["redis"], runs["embedded"], strict=True)]
    print(
        f"cpu: worker CPU per request, {rounds} alternating rounds of {requests} requests, "
        f"{concurrency} at once"
    )
    for name, values in runs.items():
        print(f"  {name}: median {statistics.median(values):.3f} ms (min {min(values):.3f})")
    print(f"  redis - embedded: median {statistics.median(diffs) * 1000:.0f} µs per request")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default="budget,kill,circuit,cpu")
    parser.add_argument("--clients", type=int, default=64, help="clients per host")
    parser.add_argument("--budget", type=float, default=20.0)
    parser.add_argument("--ttl", type=float, default=2.0)
    parser.add_argument("--trials", type=int, default=20, help="circuit trials")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16, help="cpu part's clients")
    args = parser.parse_args()
    parts = args.parts.split(",")
    root = Path(tempfile.mkdtemp(prefix="coderouter-fleet-"))
    if "circuit" in parts:
        from fleet_circuit import measure, report

        report(measure(args.trials), args.trials)
    for part in ("budget", "kill", "cpu"):
        if part not in parts:
            continue
        redis_server = RedisServer()
        try:
            if part == "budget":
                part_budget(root, redis_server, args.clients, args.budget)
            elif part == "kill":
                part_kill(root, redis_server, args.clients, args.ttl)
            else:
                part_cpu(root, redis_server, args.rounds, args.requests, args.concurrency)
        finally:
            redis_server.close()


if __name__ == "__main__":
    main()
