"""CodeRouter's benchmark: direct-to-upstream against through-CodeRouter, in one run.

Starts the fake upstream (``bench/fake_upstream.py``), then ``coderouter serve --workers 1``
with a config written to a temporary directory (one ``openai`` provider per upstream
behaviour, pointing at the fake upstream), and runs every scenario with the load generator
(``bench/loadgen.py``, its own process) first straight at the upstream and then through the
router. The router's CPU is the gunicorn worker's utime+stime (``/proc/<pid>/stat``) over the
measured phase; memory is its VmRSS. It prints the figures against the targets.

    .venv/bin/python bench/run.py            # full run, a few minutes
    .venv/bin/python bench/run.py --quick    # short run
    .venv/bin/python bench/run.py --json results.json
    .venv/bin/python bench/run.py --profile  # also profile the app in process (cProfile)
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from coderouter.testing import ConfigBuilder, free_port  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
DISTURBED = 0.25  # share of the machine's CPU used by other programs during a run


# --- scenarios -------------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    title: str
    stream: bool = False
    concurrency: int = 1
    requests: int = 0
    duration_s: float = 0.0
    warmup: int = 0
    ramp_s: float = 0.0
    chunks: int = 50
    delay_ms: float = 0.0
    record_marks: int = 0
    repeat: bool = True  # run --repeat times (CPU: the best counts; TTFT: the median run)

    @property
    def profile(self) -> str:
        """The router profile (and provider) whose headers shape the upstream's answer."""
        if not self.stream:
            return "json"
        return f"c{self.chunks}-d{self.delay_ms:g}"

    @property
    def upstream_headers(self) -> dict[str, str]:
        if not self.stream:
            return {}
        return {"x-bench-chunks": str(self.chunks), "x-bench-delay-ms": f"{self.delay_ms:g}"}

    @property
    def frames(self) -> int:
        return self.chunks + 3  # content chunks, finish, usage, [DONE]


def scenarios(quick: bool) -> list[Scenario]:

    def q(full: Any, short: Any) -> Any:
        return short if quick else full

    return [
        Scenario(
            "json-c1",
            "non-stream, 1 client",
            concurrency=1,
            requests=q(3000, 800),
            warmup=200,
        ),
        Scenario(
            "json-c16",
            "non-stream, 16 clients",
            concurrency=16,
            requests=q(8000, 2000),
            warmup=400,
        ),
        Scenario(
            "stream-c1",
            "50-chunk stream, 1 client",
            stream=True,
            concurrency=1,
            requests=q(1000, 300),
            warmup=50,
        ),
        Scenario(
            "stream-c8",
            "50-chunk stream, 8 clients",
            stream=True,
            concurrency=8,
            requests=q(2400, 600),
            warmup=80,
        ),
        Scenario(
            "relay",
            "10 chunks 50 ms apart: does the client see them spaced?",
            stream=True,
            concurrency=1,
            requests=3,
            chunks=10,
            delay_ms=50,
            record_marks=3,
            repeat=False,
        ),
        Scenario(
            "stream-64",
            "64 open streams, 50 chunks 10 ms apart, starts spread over one stream",
            stream=True,
            concurrency=64,
            duration_s=q(5.0, 3.0),
            ramp_s=0.55,
            delay_ms=10,
        ),
        Scenario(
            "stream-64-once",
            "64 streams opened at the same instant, 10 ms apart",
            stream=True,
            concurrency=64,
            requests=64,
            delay_ms=10,
        ),
        Scenario(
            "stream-500",
            "500 open streams, 50 chunks 40 ms apart, starts spread over 1 s",
            stream=True,
            concurrency=500,
            requests=q(1000, 500),
            ramp_s=1.0,
            delay_ms=40,
        ),
        Scenario(
            "stream-500-once",
            "500 streams opened at the same instant, 40 ms apart",
            stream=True,
            concurrency=500,
            requests=500,
            delay_ms=40,
        ),
    ]


CPU_SCENARIOS = ("json-c1", "json-c16", "stream-c1", "stream-c8")


# --- processes -------------------------------------------------------------------------------


def http_ok(port: int, path: str = "/healthz") -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status == 200
    except OSError:
        return False
    finally:
        conn.close()


def proc_children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def proc_rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class Server:
    """A server process on 127.0.0.1:port: started, timed to its first 200, stopped."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        port: int,
        *,
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        health: str = "/healthz",
    ) -> None:
        self.name = name
        self.argv = argv
        self.port = port
        self.log_path = log_path
        self.env = {**os.environ, **(env or {})}
        self.env.pop("CODEROUTER_ALLOW_PAID", None)
        self.cwd = cwd
        self.health = health
        self.process: subprocess.Popen[bytes] | None = None
        self.ready_s: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout_s: float = 30.0) -> float:
        """Spawn and wait for the first 200 on the health path; return the seconds it took."""
        log = self.log_path.open("ab")
        started = time.perf_counter()
        self.process = subprocess.Popen(
            self.argv, stdout=log, stderr=log, env=self.env, cwd=self.cwd, start_new_session=True
        )
        log.close()
        deadline = started + timeout_s
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}:\n"
                    + self.log_path.read_text(errors="replace")[-3000:]
                )
            if http_ok(self.port, self.health):
                self.ready_s = time.perf_counter() - started
                return self.ready_s
            time.sleep(0.005)
        self.stop()
        raise RuntimeError(
            f"{self.name} did not answer {self.health} within {timeout_s} s:\n"
            + self.log_path.read_text(errors="replace")[-3000:]
        )

    def worker_pid(self, timeout_s: float = 10.0) -> int:
        """The gunicorn worker: the master's only child."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            children = proc_children(self.pid)
            if children:
                return children[0]
            time.sleep(0.02)
        raise RuntimeError(f"{self.name}: no worker process under pid {self.pid}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def router_config(
    workdir: Path,
    upstream_port: int,
    items: list[Scenario],
    *,
    log_requests: bool,
    http_client: str = "builtin",
    plugins: bool = False,
) -> Path:
    builder = ConfigBuilder()
    if plugins:
        from plugin_sweep import PLUGINS, minimal_settings

        for name in PLUGINS:
            settings = minimal_settings(name)
            if name == "matchers":
                settings = {**settings, "default": "json"}
                settings["rules"] = [{**r, "profile": "json"} for r in settings["rules"]]
            builder.plugin(name, **settings)
        builder.router(state_dir=str(workdir / "state"))
    base_url = f"http://127.0.0.1:{upstream_port}/v1"
    seen: set[str] = set()
    for sc in items:
        if sc.profile in seen:
            continue
        seen.add(sc.profile)
        builder.provider(sc.profile, base_url, headers=sc.upstream_headers)
        builder.profile(sc.profile, [sc.profile])
    builder.router(default_profile="json", log_requests=log_requests, http_client=http_client)
    builder.server(graceful_timeout_s=5)
    folder = workdir / ("router-log-on" if log_requests else "router-log-off")
    folder.mkdir(exist_ok=True)
    return builder.write(folder)


def coderouter_argv(config: Path, port: int) -> list[str]:
    script = Path(sys.executable).parent / "coderouter"
    head = [str(script)] if script.exists() else [sys.executable, "-m", "coderouter.cli"]
    return [*head, "serve", "--config", str(config), "--port", str(port), "--workers", "1"]


BASELINE_APP = '''\
"""Reference points for the benchmark (not CodeRouter).

``app``: a bare Falcon ASGI pass-through over httpx with the httpx-aiohttp transport (the
router's stack without the router). ``bare``: a plain ASGI app answering a fixed JSON body,
the cost of gunicorn's asgi worker alone.
"""
import json
import os

import falcon
import falcon.asgi
import httpx
from httpx_aiohttp import AiohttpTransport

UPSTREAM = os.environ["BENCH_UPSTREAM"] + "/v1/chat/completions"
LIMITS = httpx.Limits(max_connections=2048, max_keepalive_connections=256,
                      keepalive_expiry=30.0)
STATE = {}


class Lifespan:
    async def process_startup(self, scope, event):
        STATE["client"] = httpx.AsyncClient(transport=AiohttpTransport(limits=LIMITS),
                                            limits=LIMITS, timeout=None)

    async def process_shutdown(self, scope, event):
        await STATE["client"].aclose()


class ChatCompletions:
    async def on_post(self, req, resp):
        body = json.loads(await req.stream.read())
        headers = {"content-type": "application/json"}
        headers.update((k, v) for k, v in req.headers_lower.items() if k.startswith("x-bench-"))
        client = STATE["client"]
        request = client.build_request("POST", UPSTREAM, content=json.dumps(body).encode(),
                                       headers=headers)
        upstream = await client.send(request, stream=True)
        if body.get("stream"):
            async def relay():
                try:
                    async for chunk in upstream.aiter_bytes():
                        yield chunk
                finally:
                    await upstream.aclose()
            resp.content_type = "text/event-stream"
            resp.stream = relay()
        else:
            data = await upstream.aread()
            await upstream.aclose()
            resp.content_type = "application/json"
            resp.data = json.dumps(json.loads(data)).encode()


class Health:
    async def on_get(self, req, resp):
        resp.media = {"status": "ok"}


app = falcon.asgi.App(middleware=[Lifespan()])
app.add_route("/v1/chat/completions", ChatCompletions())
app.add_route("/healthz", Health())

_BODY = b'{"id":"bench","object":"chat.completion","choices":[]}'


async def bare(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(_BODY)).encode())]})
    await send({"type": "http.response.body", "body": _BODY})
'''


def gunicorn_argv(target: str, port: int) -> list[str]:
    # the options `coderouter serve` passes (see contrib/gunicorn.conf.py)
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--worker-class",
        "asgi",
        "--workers",
        "1",
        "--bind",
        f"127.0.0.1:{port}",
        "--graceful-timeout",
        "5",
        "--keep-alive",
        "75",
        "--timeout",
        "120",
        "--log-level",
        "warning",
        "--asgi-lifespan",
        "auto",
        target,
    ]


# --- running the load generator --------------------------------------------------------------


def run_loadgen(
    url: str, sc: Scenario, *, via_profile: bool, watch: dict[str, int], wire: str = "chat"
) -> dict[str, Any]:
    argv = [
        sys.executable,
        str(BENCH / "loadgen.py"),
        "--url",
        url,
        "--concurrency",
        str(sc.concurrency),
        "--warmup",
        str(sc.warmup),
        "--ramp",
        str(sc.ramp_s),
    ]
    if sc.duration_s:
        argv += ["--duration", str(sc.duration_s)]
    else:
        argv += ["--requests", str(sc.requests)]
    if wire == "anthropic":
        argv += ["--path", "/v1/messages", "--wire", "anthropic"]
    if sc.stream:
        # An Anthropic stream adds message_start, ping and the block's start and stop.
        frames = sc.frames + (3 if wire == "anthropic" else 0)
        argv += ["--stream", "--expect-frames", str(frames)]
    if sc.record_marks:
        argv += ["--record-marks", str(sc.record_marks)]
    if via_profile:
        argv += ["--model", sc.profile]
    else:
        for name, value in sc.upstream_headers.items():
            argv += ["--header", f"{name}:{value}"]
    for name, pid in watch.items():
        argv += ["--watch-pid", f"{name}={pid}"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(
            f"loadgen failed ({done.returncode}): {done.stderr[-2000:]}{done.stdout[-500:]}"
        )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def cpu_ms_per_request(result: dict[str, Any], name: str = "worker") -> float | None:
    cpu = result.get("cpu_s", {}).get(name)
    if cpu is None or not result.get("ok"):
        return None
    return float(cpu) / float(result["ok"]) * 1000


def lat(result: dict[str, Any], key: str, q: str) -> float | None:
    value = result.get(key, {}).get(q)
    return float(value) if value is not None else None


@dataclass
class Target:
    """Something measured through one server against the upstream directly."""

    name: str
    url: str
    via_profile: bool
    watch: dict[str, int]
    runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    wire: str = "chat"  # the client's wire format (the upstream always speaks Chat)


def machine_busy_share(interval_s: float = 0.5) -> float:
    """Share of the machine's CPU in use over ``interval_s`` (our servers idle meanwhile)."""

    def read() -> tuple[int, int]:
        with open("/proc/stat", "rb") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        return sum(values[:8]) - values[3] - values[4], sum(values[:8])

    busy0, total0 = read()
    time.sleep(interval_s)
    busy1, total1 = read()
    return (busy1 - busy0) / max(1, total1 - total0)


def wait_for_quiet(max_wait_s: float, say: Callable[[str], None]) -> None:
    """Wait (at most ``max_wait_s``) until other programs leave the CPU mostly idle."""
    if max_wait_s <= 0:
        return
    deadline = time.monotonic() + max_wait_s
    share = machine_busy_share()
    if share <= DISTURBED:
        return
    say(f"  (machine {share:.0%} busy with other programs; waiting up to {max_wait_s:g} s)")
    while time.monotonic() < deadline:
        share = machine_busy_share(1.0)
        if share <= DISTURBED:
            return


def measure(
    target: Target,
    sc: Scenario,
    upstream: Server,
    *,
    repeat: int,
    retries: int,
    say: Callable[[str], None],
    quiet_s: float = 0.0,
) -> list[dict[str, Any]]:
    """Run ``sc`` straight at the upstream and then through ``target``, ``repeat`` times for
    CPU scenarios; a pair whose run saw much CPU used by other programs is run again (up to
    ``retries`` times) and the least disturbed attempt is kept."""
    pairs = []
    for index in range(repeat if sc.repeat else 1):
        attempts = []
        for attempt in range(retries + 1):
            wait_for_quiet(quiet_s, say)
            direct = run_loadgen(
                upstream.url, sc, via_profile=False, watch={"upstream": upstream.pid}
            )
            routed = run_loadgen(
                target.url,
                sc,
                via_profile=target.via_profile,
                watch={**target.watch, "upstream": upstream.pid},
                wire=target.wire,
            )
            foreign = max(direct["foreign_cpu_share"], routed["foreign_cpu_share"])
            attempts.append(
                {"direct": direct, "routed": routed, "foreign": foreign, "attempt": attempt + 1}
            )
            say(
                f"  {target.name:<12} {sc.name:<16} run {index + 1}"
                f"{'' if not attempt else f' (again, {attempt + 1})'}: "
                + summary_line(sc, direct, routed)
                + (f"  [other programs used {foreign:.0%} of the CPU]" if foreign > 0.05 else "")
            )
            if foreign <= DISTURBED:
                break
        pairs.append(min(attempts, key=lambda a: a["foreign"]))
    target.runs[sc.name] = pairs
    return pairs


def summary_line(sc: Scenario, direct: dict[str, Any], routed: dict[str, Any]) -> str:
    key = "ttft_ms" if sc.stream else "latency_ms"
    label = "ttft" if sc.stream else "latency"
    cpu = cpu_ms_per_request(routed)
    text = (
        f"{label} p50 {fmt(lat(direct, key, 'p50'))} -> {fmt(lat(routed, key, 'p50'))} ms, "
        f"p99 {fmt(lat(direct, key, 'p99'))} -> {fmt(lat(routed, key, 'p99'))} ms"
    )
    if cpu is not None:
        text += f", worker CPU {cpu:.3f} ms/req"
    errors = routed.get("errors", 0)
    if errors:
        text += f", ERRORS {errors} {routed.get('error_kinds')}"
    return text


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


# --- figures ---------------------------------------------------------------------------------


def best_cpu(pairs: list[dict[str, Any]]) -> tuple[float | None, float | None]:
    """(best, median) worker CPU ms per request over the repeats."""
    values = [v for v in (cpu_ms_per_request(p["routed"]) for p in pairs) if v is not None]
    if not values:
        return None, None
    return min(values), statistics.median(values)


def median_pair(pairs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run whose time-to-first-token p99 through the server is the median of the runs."""
    ranked = sorted(pairs, key=lambda p: lat(p["routed"], "ttft_ms", "p99") or 0.0)
    return ranked[(len(ranked) - 1) // 2]


def added(pairs: list[dict[str, Any]], key: str, q: str) -> float | None:
    """Median over the repeats of (through the router minus direct)."""
    values = []
    for p in pairs:
        a, b = lat(p["routed"], key, q), lat(p["direct"], key, q)
        if a is not None and b is not None:
            values.append(a - b)
    return statistics.median(values) if values else None


def relay_check(pairs: list[dict[str, Any]], sc: Scenario) -> dict[str, Any]:
    marks = pairs[0]["routed"].get("frame_marks_ms", []) if pairs else []
    gaps = [b - a for m in marks for a, b in itertools.pairwise(m)]
    spans = [m[-1] - m[0] for m in marks if m]
    expected_span = (sc.frames - 1) * sc.delay_ms
    ok = (
        bool(marks)
        and all(len(m) == sc.frames for m in marks)
        and min(spans) >= 0.8 * expected_span
        and statistics.median(gaps) >= 0.8 * sc.delay_ms
    )
    return {
        "ok": ok,
        "median_gap_ms": statistics.median(gaps) if gaps else None,
        "min_gap_ms": min(gaps) if gaps else None,
        "span_ms": min(spans) if spans else None,
        "expected_span_ms": expected_span,
        "marks_ms": marks,
    }


@dataclass
class Row:
    figure: str
    target: str
    value: float | str | None
    unit: str = "ms"
    passed: bool | None = None
    baseline: float | str | None = None
    note: str = ""

    def cells(self) -> list[str]:
        value = (
            fmt(self.value, 3)
            if isinstance(self.value, float)
            else "-"
            if self.value is None
            else str(self.value)
        )
        base = (
            fmt(self.baseline, 3) if isinstance(self.baseline, float) else str(self.baseline or "")
        )
        verdict = {True: "pass", False: "MISS", None: "info"}[self.passed]
        unit = f" {self.unit}" if self.unit and value != "-" else ""
        return [
            self.figure,
            self.target,
            value + unit,
            verdict,
            base + (f" {self.unit}" if base and self.unit else ""),
        ]


def le(value: float | None, limit: float) -> bool | None:
    return None if value is None else value <= limit


Runs = dict[str, list[dict[str, Any]]]


def cpu_rows(main: Runs, base: Runs, logged: Runs, bare: Runs) -> list[Row]:
    rows = []
    for name, figure, limit in (
        ("json-c1", "router CPU per non-stream request, 1 client", 0.4),
        ("json-c16", "router CPU per non-stream request, 16 clients", 0.4),
        ("stream-c1", "router CPU per 50-chunk stream, 1 client", 1.5),
        ("stream-c8", "router CPU per 50-chunk stream, 8 clients", 1.5),
    ):
        if name not in main:
            continue
        best, median = best_cpu(main[name])
        ref = best_cpu(base[name])[0] if name in base else None
        note = f"median of runs {median:.3f}" if median is not None and len(main[name]) > 1 else ""
        rows.append(
            Row(figure, f"<= {limit}", best, passed=le(best, limit), baseline=ref, note=note)
        )
    if "stream-64" in main:
        value = best_cpu(main["stream-64"])[0]
        ref = best_cpu(base["stream-64"])[0] if "stream-64" in base else None
        frames = 53
        note = (f"{value / frames * 1000:.0f} us per relayed frame" if value else "") + (
            f" (bare Falcon {ref / frames * 1000:.0f} us)" if ref else ""
        )
        rows.append(
            Row(
                "router CPU per 50-chunk stream, paced 10 ms (each frame its own read)",
                "",
                value,
                baseline=ref,
                note=note,
            )
        )
    for name, label in (
        ("json-c1", "non-stream, 1 client"),
        ("json-c16", "non-stream, 16 clients"),
        ("stream-c8", "50-chunk stream, 8 clients"),
    ):
        if name in logged:
            rows.append(
                Row(f"router CPU with the request log on, {label}", "", best_cpu(logged[name])[0])
            )
    if "json-c1" in bare:
        rows.append(
            Row(
                "gunicorn asgi worker alone (fixed answer), CPU per request, 1 client",
                "",
                best_cpu(bare["json-c1"])[0],
            )
        )
    return rows


def latency_rows(main: Runs, base: Runs, relay: dict[str, Any] | None) -> list[Row]:
    rows = []
    if "json-c1" in main:
        for q, limit in (("p50", 0.5), ("p99", 2.0)):
            value = added(main["json-c1"], "latency_ms", q)
            ref = added(base["json-c1"], "latency_ms", q) if "json-c1" in base else None
            rows.append(
                Row(
                    f"added latency, non-stream, 1 client, {q}",
                    f"<= {limit:g}",
                    value,
                    passed=le(value, limit),
                    baseline=ref,
                )
            )
    if "stream-c1" in main:
        rows.append(
            Row(
                "added time to first token, stream, 1 client, p50",
                "",
                added(main["stream-c1"], "ttft_ms", "p50"),
            )
        )
    if relay is not None:
        rows.append(
            Row(
                "stream relayed chunk by chunk (upstream frames 50 ms apart)",
                "spaced",
                f"median gap {fmt(relay['median_gap_ms'], 1)} ms, span "
                f"{fmt(relay['span_ms'], 0)} of {relay['expected_span_ms']:.0f} ms",
                unit="",
                passed=relay["ok"],
            )
        )
    return rows


def stream_rows(main: Runs, base: Runs) -> list[Row]:
    rows = []
    for name, what, limit in (
        ("stream-64", "64 open streams", 50.0),
        ("stream-64-once", "64 streams opened at once", None),
        ("stream-500", "500 open streams", 250.0),
        ("stream-500-once", "500 streams opened at once", None),
    ):
        if name not in main:
            continue
        pair = median_pair(main[name])
        routed = pair["routed"]
        value = lat(routed, "ttft_ms", "p99")
        ref = lat(median_pair(base[name])["routed"], "ttft_ms", "p99") if name in base else None
        direct = lat(pair["direct"], "ttft_ms", "p99")
        errors = sum(p["routed"]["errors"] for p in main[name])
        requests = sum(p["routed"]["requests"] for p in main[name])
        runs = ", ".join(fmt(lat(p["routed"], "ttft_ms", "p99"), 0) for p in main[name])
        note = (
            f"median of runs ({runs}); direct {fmt(direct)} ms; "
            f"peak {routed['peak_in_flight']} in flight; {requests - errors}/{requests} ok"
        )
        passed = None if limit is None else bool(le(value, limit)) and not errors
        rows.append(
            Row(
                f"TTFT p99, {what}",
                f"<= {limit:g}" if limit else "",
                value,
                passed=passed,
                baseline=ref,
                note=note,
            )
        )
        if name.startswith("stream-500"):
            kinds: dict[str, int] = {}
            for p in main[name]:
                for kind, count in p["routed"]["error_kinds"].items():
                    kinds[kind] = kinds.get(kind, 0) + count
            rows.append(
                Row(
                    f"errors, {what}",
                    "0" if limit else "",
                    errors,
                    unit="",
                    passed=(errors == 0) if limit else None,
                    note=json.dumps(kinds) if errors else "",
                )
            )
    return rows


def resource_rows(main: Runs, startups: list[float]) -> list[Row]:
    rows = []
    rss = [
        p["routed"]["rss_peak_kb"]
        for name in ("stream-500", "stream-500-once")
        for p in main.get(name, [])
    ]
    if rss:
        worker = max(r.get("worker") or 0 for r in rss) / 1024
        master = max(r.get("master") or 0 for r in rss) / 1024
        rows.append(
            Row(
                "worker RSS, peak under 500 streams",
                "<= 90",
                worker,
                unit="MB",
                passed=worker <= 90,
            )
        )
        rows.append(Row("master RSS, peak under 500 streams", "", master, unit="MB"))
    if startups:
        median = statistics.median(startups)
        rows.append(
            Row(
                "`coderouter serve` spawn to first 200 on /healthz, median",
                "<= 1",
                median,
                unit="s",
                passed=median <= 1.0,
                note="runs: " + ", ".join(f"{s:.2f}" for s in startups),
            )
        )
    return rows


def build_rows(results: dict[str, Any]) -> list[Row]:
    runs = results["runs"]
    main: Runs = runs.get("coderouter", {})
    base: Runs = runs.get("falcon-baseline", {})
    return [
        *cpu_rows(main, base, runs.get("coderouter-log-on", {}), runs.get("gunicorn-bare", {})),
        *latency_rows(main, base, results.get("relay_check")),
        *stream_rows(main, base),
        *resource_rows(main, results.get("startup_s", [])),
    ]


def render_table(rows: list[Row]) -> str:
    header = ["figure", "target", "CodeRouter", "", "bare Falcon pass-through"]
    cells = [header] + [r.cells() for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    notes = [f"  {r.figure}: {r.note}" for r in rows if r.note]
    return "\n".join(lines + (["", "notes:", *notes] if notes else []))


def render_details(results: dict[str, Any], items: dict[str, Scenario]) -> str:
    lines = [
        "scenario          server        direct p50/p99   through p50/p99   "
        "CPU ms/req  req/s    errors  other CPU"
    ]
    for server, runs in results["runs"].items():
        for name, pairs in runs.items():
            sc = items[name]
            key = "ttft_ms" if sc.stream else "latency_ms"
            for p in pairs:
                d, r = p["direct"], p["routed"]
                cpu = cpu_ms_per_request(r)
                lines.append(
                    f"{name:<17} {server[:13]:<13} "
                    f"{fmt(lat(d, key, 'p50')):>6}/{fmt(lat(d, key, 'p99')):<8} "
                    f"{fmt(lat(r, key, 'p50')):>7}/{fmt(lat(r, key, 'p99')):<9} "
                    f"{fmt(cpu, 3):>9}  {r.get('rps') or 0:>7.0f}  {r['errors']:>6}  "
                    f"{p['foreign']:>8.0%}"
                )
    return "\n".join(lines) + "\n(stream rows: time to first token; others: latency; ms)"


def machine_info() -> dict[str, Any]:
    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions: dict[str, str | None] = {}
    from importlib import metadata

    for dist in ("coderouter", "falcon", "gunicorn", "httpx", "httpx-aiohttp", "aiohttp", "uvloop"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu_model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg": os.getloadavg(),
        "versions": versions,
    }


# --- in-process profile ----------------------------------------------------------------------


PACKAGES = (
    ("coderouter", "/coderouter/"),
    ("falcon", "/falcon/"),
    ("httpx_aiohttp", "/httpx_aiohttp/"),
    ("httpx", "/httpx/"),
    ("aiohttp", "/aiohttp/"),
    ("pluggy", "/pluggy/"),
    ("attrs", "/attr/"),
    ("json", "/json/"),
    ("asyncio", "/asyncio/"),
    ("uvloop", "/uvloop/"),
    ("http.cookiejar/urllib", "/http/cookiejar"),
    ("http.cookiejar/urllib", "/urllib/"),
)


def package_of(filename: str) -> str:
    if filename == "~":
        return "builtins"
    for name, marker in PACKAGES:
        if marker in filename:
            return name
    if "/bench/" in filename:
        return "benchmark driver"
    if "site-packages" in filename:
        return "other packages"
    return "other stdlib"


def short_name(filename: str) -> str:
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1]
    if filename.startswith(str(ROOT) + "/"):
        return filename[len(str(ROOT)) + 1 :]
    if "/lib/python3." in filename:
        return filename.split("/lib/python3.", 1)[1].split("/", 1)[-1]
    return filename


def summarize_profile(stats: Any) -> dict[str, Any]:
    """Shares of CPU time by package and the top functions, from a ``pstats.Stats``."""
    entries = stats.stats
    total = sum(v[2] for v in entries.values()) or 1.0
    by_package: dict[str, float] = {}
    rows = []
    for (filename, line, func), (_, ncalls, tottime, cumtime, callers) in entries.items():
        if filename == "~" and callers:
            # a builtin (str/bytes/dict method, isinstance ...): its time belongs to the
            # packages that call it, in proportion
            edge_total = sum(edge[2] for edge in callers.values()) or 1.0
            for caller, edge in callers.items():
                package = package_of(caller[0])
                by_package[package] = by_package.get(package, 0.0) + (
                    tottime * edge[2] / edge_total
                )
        else:
            package = package_of(filename)
            by_package[package] = by_package.get(package, 0.0) + tottime
        rows.append(
            {
                "function": f"{short_name(filename)}:{line}({func})",
                "calls": ncalls,
                "package": package_of(filename),
                "tottime_share": tottime / total,
                "cumtime_share": cumtime / total,
            }
        )
    rows.sort(key=lambda r: r["tottime_share"], reverse=True)
    tops: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        listed = tops.setdefault(row["package"], [])
        if len(listed) < 6:
            listed.append(row)
    return {
        "by_package": {k: v / total for k, v in sorted(by_package.items(), key=lambda kv: -kv[1])},
        "top_by_package": tops,
        "top_tottime": rows[:25],
        "top_cumtime": sorted(rows, key=lambda r: r["cumtime_share"], reverse=True)[:40],
    }


class AsgiDriver:
    """A synthetic ASGI server: sends one POST at a time per worker to ``app`` and discards
    the answer (no sockets on the client side, no gunicorn)."""

    def __init__(self, app: Any, *, stream: bool, wire: str = "chat") -> None:
        self.app = app
        system = "You are a careful coding assistant."
        user = {"role": "user", "content": "Write a function that reverses a sentence."}
        body: dict[str, Any] = {
            "model": "bench-model",
            "messages": [{"role": "system", "content": system}, user],
            "max_tokens": 512,
            "stream": stream,
        }
        path = "/v1/chat/completions"
        if wire == "anthropic":
            path = "/v1/messages"
            body.update(system=system, messages=[user])
        elif stream:
            body["stream_options"] = {"include_usage": True}
        self.raw = json.dumps(body, separators=(",", ":")).encode()
        headers = [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self.raw)).encode()),
        ]
        self.scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8088),
        }
        self.lifespan_in: Any = None
        self.lifespan_out: Any = None
        self.lifespan_task: Any = None

    async def one(self) -> None:
        import asyncio

        sent = False
        hold: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": self.raw, "more_body": False}
            await hold
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and message["status"] != 200:
                raise RuntimeError(f"the app answered {message['status']} while profiling")

        await self.app(dict(self.scope), receive, send)
        hold.cancel()

    async def batch(self, requests: int, concurrency: int) -> None:
        import asyncio

        queue = iter(range(requests))

        async def worker() -> None:
            for _ in queue:
                await self.one()

        await asyncio.gather(*[worker() for _ in range(concurrency)])

    async def lifespan(self, event: str) -> None:
        import asyncio

        if self.lifespan_task is None:
            self.lifespan_in, self.lifespan_out = asyncio.Queue(), asyncio.Queue()
            self.lifespan_task = asyncio.ensure_future(
                self.app(
                    {"type": "lifespan", "asgi": {"version": "3.0"}},
                    self.lifespan_in.get,
                    self.lifespan_out.put,
                )
            )
        await self.lifespan_in.put({"type": f"lifespan.{event}"})
        await self.lifespan_out.get()
        if event == "shutdown":
            self.lifespan_task.cancel()


def profile_app(
    upstream_url: str,
    workdir: Path,
    *,
    stream: bool,
    delay_ms: float,
    requests: int,
    concurrency: int,
    config: Path | None = None,
    wire: str = "chat",
) -> dict[str, Any]:
    """Drive the gunicorn target ``coderouter.asgi:app`` in process with a synthetic ASGI
    server (no gunicorn) against the fake upstream under cProfile (CPU time); return the top
    functions and the share of CPU time by package. ``config`` replaces the one-provider
    config written here (``--plugins --profile`` passes one with plugins)."""
    import asyncio
    import cProfile
    import importlib
    import pstats

    sc = Scenario("profile", "", stream=stream, delay_ms=delay_ms)
    if config is None:
        folder = workdir / f"profile-{sc.profile}"
        folder.mkdir(exist_ok=True)
        config = (
            ConfigBuilder()
            .provider("p", upstream_url + "/v1", headers=sc.upstream_headers)
            .profile("p", ["p"])
            .router(log_requests=False)
            .write(folder)
        )
    os.environ["CODEROUTER_CONFIG"] = str(config)
    module = sys.modules.get("coderouter.asgi")
    module = importlib.reload(module) if module else importlib.import_module("coderouter.asgi")
    driver = AsgiDriver(module.app, stream=stream, wire=wire)

    async def main() -> dict[str, Any]:
        await driver.lifespan("startup")
        await driver.batch(max(50, requests // 10), concurrency)
        profiler = cProfile.Profile(time.process_time)
        cpu0 = time.process_time()
        profiler.enable()
        await driver.batch(requests, concurrency)
        profiler.disable()
        profiled = time.process_time() - cpu0
        cpu0 = time.process_time()
        await driver.batch(requests, concurrency)
        plain = time.process_time() - cpu0
        await driver.lifespan("shutdown")
        return {
            "requests": requests,
            "stream": stream,
            "wire": wire,
            "delay_ms": delay_ms,
            "concurrency": concurrency,
            "cpu_ms_per_request_in_process": plain / requests * 1000,
            "cpu_ms_per_request_profiled": profiled / requests * 1000,
            **summarize_profile(pstats.Stats(profiler)),
        }

    try:
        import uvloop
    except ImportError:
        return asyncio.run(main())
    return uvloop.run(main())


def render_profile(profile: dict[str, Any]) -> str:
    kind = f"stream, frames {profile['delay_ms']:g} ms apart" if profile["stream"] else "non-stream"
    if profile.get("wire") == "anthropic":
        kind = "Anthropic Messages in, " + kind
    lines = [
        f"in-process profile, {kind}, {profile['requests']} requests at concurrency "
        f"{profile['concurrency']}: {profile['cpu_ms_per_request_in_process']:.3f} ms CPU "
        f"per request unprofiled (no gunicorn)",
        "  share of profiled CPU time by package (self time; builtins counted to their callers):",
    ]
    for name, share in profile["by_package"].items():
        if share < 0.005:
            continue
        top = ", ".join(
            r["function"].rsplit("/", 1)[-1] for r in profile["top_by_package"].get(name, [])[:3]
        )
        lines.append(f"    {name:<24} {share:6.1%}   {top}")
    lines.append("  top functions by self time:")
    lines += [
        f"    {r['tottime_share']:6.1%}  {r['function']}" for r in profile["top_tottime"][:15]
    ]
    lines.append("  top by cumulative time:")
    lines += [
        f"    {r['cumtime_share']:6.1%}  {r['function']}" for r in profile["top_cumtime"][:25]
    ]
    return "\n".join(lines)


# --- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark CodeRouter against its upstream, directly and through it.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=textwrap.dedent("""\
            scenarios: json-c1 json-c16 stream-c1 stream-c8 relay stream-64 stream-64-once
                       stream-500 stream-500-once"""),
    )
    parser.add_argument("--quick", action="store_true", help="fewer requests, one run each")
    parser.add_argument(
        "--json",
        metavar="PATH",
        help="also write every figure as JSON ('-' for stdout; the table then goes to stderr)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        help="runs of each CPU scenario; the best counts (default 3, 1 with --quick)",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=2,
        help="extra runs of a pair that "
        f"other programs disturbed (over {round(DISTURBED * 100)}%% of the CPU)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=30.0,
        metavar="S",
        help="before each run, wait up to S seconds for other programs to "
        "leave the CPU mostly idle (default 30; 0: do not wait)",
    )
    parser.add_argument("--only", help="comma-separated scenario names")
    parser.add_argument(
        "--log-requests",
        choices=("off", "on", "both"),
        default="both",
        help="router.log_requests for the main run; 'both' also measures the "
        "CPU scenarios with the request log on (default)",
    )
    parser.add_argument(
        "--http-client",
        choices=("builtin", "httpx"),
        default="builtin",
        help="router.http_client for the router runs (default builtin)",
    )
    parser.add_argument(
        "--no-baseline",
        action="store_true",
        help="skip the bare Falcon pass-through and bare gunicorn references",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile the app in process (cProfile, no gunicorn)",
    )
    parser.add_argument(
        "--ingress",
        choices=("chat", "anthropic"),
        default="chat",
        help="the clients' wire format through the router: Chat Completions (pass-through, "
        "default) or Anthropic Messages (translated to the Chat upstream)",
    )
    parser.add_argument(
        "--with-plugins",
        action="store_true",
        help="the router runs with all ten plugins enabled (their READMEs' minimal settings)",
    )
    parser.add_argument(
        "--plugins",
        action="store_true",
        help="instead of the scenarios: the core alone, each plugin alone and all ten, Chat "
        "pass-through and Anthropic -> Chat, non-stream and 50-chunk streams (--only then "
        "names configurations: core, a plugin, 'all ten')",
    )
    return parser.parse_args(argv)


def plugins_main(args: argparse.Namespace, say: Callable[[str], None]) -> int:
    """``--plugins``: the per-plugin sweep (:mod:`plugin_sweep`), one table."""
    from plugin_sweep import render_sweep, run_sweep

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="coderouter-bench-"))
    servers: list[Server] = []

    def start(label: str, config: Path, port: int) -> tuple[str, int]:
        server = Server(
            label, coderouter_argv(config, port), port, log_path=workdir / f"{port}.log"
        )
        servers.append(server)
        server.start()
        say(f"{label}: ready (pid {server.pid})")
        return server.url, server.worker_pid()

    port = free_port()
    upstream = Server(
        "fake upstream",
        [sys.executable, str(BENCH / "fake_upstream.py"), "--port", str(port)],
        port,
        log_path=workdir / "upstream.log",
    )
    servers.append(upstream)
    upstream.start()
    only = [n.strip() for n in args.only.split(",")] if args.only else None
    try:
        sweep = run_sweep(
            workdir=workdir,
            upstream_port=upstream.port,
            start_router=start,
            repeat=args.repeat or (1 if args.quick else 3),
            quick=args.quick,
            only=only,
            wait_quiet=lambda: wait_for_quiet(args.wait_quiet, say),
            say=say,
        )
    except BaseException:
        say(f"logs of the servers: {workdir}")
        raise
    finally:
        for server in reversed(servers):
            server.stop()
    shutil.rmtree(workdir, ignore_errors=True)
    sweep["command"] = "bench/run.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    sweep["machine"] = machine_info()
    sweep["started"] = time.strftime("%Y-%m-%d %H:%M:%S %z")
    out = sys.stderr if args.json == "-" else sys.stdout
    print("\n" + render_sweep(sweep), file=out)
    if args.json:
        text = json.dumps(sweep, indent=2, default=str)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n", encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:  # noqa: C901 - the run, top to bottom
    args = parse_args(argv)
    if args.plugins:
        return plugins_main(args, lambda text: print(text, file=sys.stderr, flush=True))
    repeat = args.repeat or (1 if args.quick else 3)
    items = {sc.name: sc for sc in scenarios(args.quick)}
    chosen = list(items.values())
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in items]
        if unknown:
            print(
                f"unknown scenario(s): {', '.join(unknown)} (known: {', '.join(items)})",
                file=sys.stderr,
            )
            return 2
        chosen = [items[n] for n in names]
    out = sys.stderr if args.json == "-" else sys.stdout

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    # stop the servers this run started (they have their own sessions) on SIGTERM too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="coderouter-bench-"))
    results: dict[str, Any] = {
        "command": "bench/run.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
        "machine": machine_info(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "repeat": repeat,
        "scenarios": {sc.name: asdict(sc) for sc in chosen},
        "runs": {},
        "startup_s": [],
    }
    servers: list[Server] = []

    def start(server: Server) -> Server:
        servers.append(server)
        took = server.start()
        say(f"{server.name}: ready in {took:.2f} s (pid {server.pid})")
        return server

    port = free_port()
    upstream = start(
        Server(
            "fake upstream",
            [sys.executable, str(BENCH / "fake_upstream.py"), "--port", str(port)],
            port,
            log_path=workdir / "upstream.log",
        )
    )
    try:
        configs = [("coderouter", args.log_requests == "on")]
        if args.log_requests == "both":
            configs.append(("coderouter-log-on", True))
        for label, log_on in configs:
            config = router_config(
                workdir,
                upstream.port,
                list(items.values()),
                log_requests=log_on,
                http_client=args.http_client,
                plugins=args.with_plugins,
            )
            port = free_port()
            router = start(
                Server(
                    label, coderouter_argv(config, port), port, log_path=workdir / f"{label}.log"
                )
            )
            assert router.ready_s is not None
            results["startup_s"].append(router.ready_s)
            master, worker = router.pid, router.worker_pid()
            target = Target(
                label, router.url, True, {"worker": worker, "master": master}, wire=args.ingress
            )
            # warm the worker: imports on first use, the upstream connection pool
            run_loadgen(router.url, items["json-c1"], via_profile=True, watch={})
            run_loadgen(router.url, items["stream-c8"], via_profile=True, watch={})
            for sc in chosen:
                if label != "coderouter" and sc.name not in CPU_SCENARIOS:
                    continue
                measure(
                    target,
                    sc,
                    upstream,
                    repeat=repeat,
                    retries=args.retries,
                    say=say,
                    quiet_s=args.wait_quiet,
                )
                if sc.name == "relay":
                    results["relay_check"] = relay_check(target.runs["relay"], sc)
            results["runs"][label] = target.runs
            router.stop()
            if label == "coderouter":
                results["router_log_requests"] = log_on
        # one more cold start for the startup figure
        config = router_config(workdir, upstream.port, list(items.values()), log_requests=False)
        while len(results["startup_s"]) < 3:
            port = free_port()
            extra = start(
                Server(
                    "coderouter (startup)",
                    coderouter_argv(config, port),
                    port,
                    log_path=workdir / "startup.log",
                )
            )
            assert extra.ready_s is not None
            results["startup_s"].append(extra.ready_s)
            extra.stop()
        if not args.no_baseline:
            app_file = workdir / "bench_baseline_app.py"
            app_file.write_text(BASELINE_APP, encoding="utf-8")
            env = {
                "BENCH_UPSTREAM": upstream.url,
                "PYTHONPATH": str(workdir) + os.pathsep + os.environ.get("PYTHONPATH", ""),
            }
            for label, app, names in (
                (
                    "falcon-baseline",
                    "bench_baseline_app:app",
                    [
                        *CPU_SCENARIOS,
                        "stream-64",
                        "stream-64-once",
                        "stream-500",
                        "stream-500-once",
                    ],
                ),
                ("gunicorn-bare", "bench_baseline_app:bare", ["json-c1", "json-c16"]),
            ):
                wanted = [sc for sc in chosen if sc.name in names]
                if not wanted:
                    continue
                port = free_port()
                server = start(
                    Server(
                        label,
                        gunicorn_argv(app, port),
                        port,
                        env=env,
                        cwd=workdir,
                        log_path=workdir / f"{label}.log",
                    )
                )
                target = Target(
                    label, server.url, False, {"worker": server.worker_pid(), "master": server.pid}
                )
                run_loadgen(server.url, items["json-c1"], via_profile=False, watch={})
                for sc in wanted:
                    measure(
                        target,
                        sc,
                        upstream,
                        repeat=repeat,
                        retries=args.retries,
                        say=say,
                        quiet_s=args.wait_quiet,
                    )
                results["runs"][label] = target.runs
                server.stop()
        if args.profile:
            say("profiling the app in process ...")
            results["profile"] = [
                profile_app(
                    upstream.url, workdir, stream=False, delay_ms=0, requests=3000, concurrency=1
                ),
                profile_app(
                    upstream.url, workdir, stream=True, delay_ms=0, requests=600, concurrency=1
                ),
                profile_app(
                    upstream.url, workdir, stream=True, delay_ms=10, requests=640, concurrency=64
                ),
            ]
    except BaseException:
        say(f"logs of the servers: {workdir}")
        raise
    finally:
        for server in reversed(servers):
            server.stop()
    shutil.rmtree(workdir, ignore_errors=True)

    rows = build_rows(results)
    results["table"] = [asdict(r) for r in rows]
    m = results["machine"]
    print(
        f"\nCodeRouter benchmark · {m['nproc']} cores ({m['cpu']}) · Python {m['python']} · "
        f"router.log_requests = {str(results.get('router_log_requests', False)).lower()}"
        f" · router.http_client = {args.http_client}"
        f" · {repeat} runs of each scenario: CPU the best, TTFT the median\n",
        file=out,
    )
    print(render_table(rows), file=out)
    print("\n" + render_details(results, items), file=out)
    for profile in results.get("profile", []):
        print("\n" + render_profile(profile), file=out)
    if args.json:
        text = json.dumps(results, indent=2, default=str)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
