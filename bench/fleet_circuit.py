"""How soon a circuit opened through one host is open on the others (``[state] backend =
"redis"``): three ``coderouter serve`` processes on one ``redis-server``, all on loopback.

Each trial makes a fresh provider fail twice through host 1 (``threshold = 1``: the second
failure opens its circuit), then polls ``GET /-/plugins`` on hosts 2 and 3 every millisecond
until they show the circuit open. The figure is the time from host 1's answer to the second
failing request until each other host shows it (it includes one ``/-/plugins`` round trip).

    .venv/bin/python bench/fleet_circuit.py --trials 20
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from coderouter.testing import Answer, ConfigBuilder, FakeUpstream, RedisServer, RouterProcess


def config(folder: Path, redis: RedisServer, failing: list[FakeUpstream], ok: FakeUpstream) -> Path:
    builder = ConfigBuilder()
    for n, upstream in enumerate(failing):
        builder.provider(f"p{n}", upstream)
    builder.provider("ok", ok)
    for n in range(len(failing)):
        builder.profile(f"t{n}", [f"p{n}", "ok"])
    builder.router(state_dir=str(folder / "state"), log_requests=False)
    builder.state(backend="redis", url=redis.url, prefix="bench:")
    builder.plugin("backend_health", action="skip", threshold=1)
    folder.mkdir(parents=True)
    return builder.write(folder)


def circuit(client: httpx.Client, host: RouterProcess, provider: str) -> str | None:
    state = client.get(host.url + "/-/plugins").json()["state"]["backend_health"]
    found: str | None = state["providers"].get(provider, {}).get("circuit")
    return found


def measure(trials: int) -> dict[str, float | int]:
    """Run ``trials`` trials; the figures in milliseconds."""
    redis = RedisServer()
    failing = [FakeUpstream(Answer.error(500, "boom")) for _ in range(trials)]
    ok = FakeUpstream()
    root = Path(tempfile.mkdtemp(prefix="coderouter-fleet-bench-"))
    hosts = [RouterProcess(config(root / f"host{n}", redis, failing, ok)) for n in (1, 2, 3)]
    seen_ms: list[float] = []
    try:
        with httpx.Client(timeout=5) as client:
            for n in range(trials):
                # The model names the profile whose chain starts with this trial's provider.
                body = {"model": f"t{n}", "messages": [{"role": "user", "content": "hi"}]}
                for _ in range(2):
                    client.post(hosts[0].url + "/v1/chat/completions", json=body)
                opened = time.perf_counter()
                for host in hosts[1:]:
                    deadline = opened + 2.0
                    while circuit(client, host, f"p{n}") != "open":
                        if time.perf_counter() > deadline:
                            raise SystemExit(f"trial {n}: {host.url} never showed p{n} open")
                        time.sleep(0.001)
                    seen_ms.append((time.perf_counter() - opened) * 1000)
            poll_ms = []
            for _ in range(20):
                started = time.perf_counter()
                circuit(client, hosts[1], "p0")
                poll_ms.append((time.perf_counter() - started) * 1000)
    finally:
        for host in hosts:
            host.stop()
        for upstream in [*failing, ok]:
            upstream.close()
        redis.close()
    seen_ms.sort()
    return {
        "poll_ms": statistics.median(poll_ms),
        "observations": len(seen_ms),
        "median_ms": statistics.median(seen_ms),
        "p90_ms": seen_ms[int(len(seen_ms) * 0.9) - 1],
        "max_ms": seen_ms[-1],
    }


def report(found: dict[str, float | int], trials: int) -> None:
    print(f"one GET /-/plugins round trip: median {found['poll_ms']:.1f} ms")
    print(f"{found['observations']} observations ({trials} trials x 2 hosts)")
    print(
        f"circuit seen on the other hosts after: median {found['median_ms']:.1f} ms, "
        f"p90 {found['p90_ms']:.1f} ms, max {found['max_ms']:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args()
    report(measure(args.trials), args.trials)


if __name__ == "__main__":
    main()
