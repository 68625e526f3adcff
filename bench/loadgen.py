"""A load generator for OpenAI Chat Completions endpoints, stream or not.

A raw asyncio HTTP/1.1 client (uvloop when installed): each of ``--concurrency`` workers owns
one keep-alive connection and sends requests back to back until ``--requests`` in total
(or ``--duration`` seconds) are done. It records per-request latency, time to first token
(the first body byte of a stream), SSE frame counts and errors, and prints one JSON object.

It runs in its own process so its CPU never counts against the server's. With ``--watch-pid``
it also reads, over the measured phase only, the CPU time (utime+stime from
``/proc/<pid>/stat``) and the peak VmRSS of those processes, and the machine's total busy CPU
(``/proc/stat``) so that load from other programs can be seen.

    python bench/loadgen.py --url http://127.0.0.1:8088 --concurrency 1 --requests 2000
    python bench/loadgen.py --url http://127.0.0.1:9000 --stream --concurrency 64 \\
        --requests 640 --header x-bench-delay-ms:10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
from typing import Any
from urllib.parse import urlsplit

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024

PROMPT = [
    {"role": "system", "content": "You are a careful coding assistant. Answer with code."},
    {
        "role": "user",
        "content": "Write a Python function that reverses the words of a "
        "sentence, with a docstring and two doctests.",
    },
]


class ConnectionClosed(Exception):
    pass


class Sample:
    __slots__ = ("end", "error", "frames", "marks", "start", "status", "ttft")

    def __init__(self, start: float) -> None:
        self.start = start
        self.end = 0.0
        self.ttft: float | None = None
        self.status = 0
        self.frames = 0
        self.error = ""
        self.marks: list[float] | None = None


class ClientProtocol(asyncio.Protocol):
    """One connection; parses one response at a time (content-length, chunked, or to EOF)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.sample: Sample | None = None
        self.done: asyncio.Future[None] | None = None
        self.closed = False
        self.reset()

    def reset(self) -> None:
        self.state = "head"  # head | length | chunk_size | chunk_data | chunk_crlf | trailer | eof
        self.remaining = 0
        self.chunked = False
        self.keep_alive = True
        self.tail = b""

    # asyncio callbacks ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.done is not None and not self.done.done():
            if self.state == "eof":
                self._finish()
            else:
                self.done.set_exception(ConnectionClosed(str(exc or "connection closed")))

    def data_received(self, data: bytes) -> None:
        if self.sample is None:
            return
        now = time.perf_counter()
        self.buffer = self.buffer + data if self.buffer else data
        try:
            self._parse(now)
        except Exception as exc:  # a malformed response ends this connection
            if self.done is not None and not self.done.done():
                self.done.set_exception(exc)
            if self.transport is not None:
                self.transport.close()

    # request -------------------------------------------------------------------------------

    def send(self, payload: bytes, sample: Sample) -> asyncio.Future[None]:
        assert self.transport is not None
        self.reset()
        self.sample = sample
        self.done = asyncio.get_running_loop().create_future()
        self.transport.write(payload)
        return self.done

    # parsing -------------------------------------------------------------------------------

    def _body(self, piece: bytes, now: float) -> None:
        if not piece:
            return
        sample = self.sample
        assert sample is not None
        if sample.ttft is None:
            sample.ttft = now - sample.start
        joined = self.tail + piece
        count = joined.count(b"\n\n") - self.tail.count(b"\n\n")
        if count:
            sample.frames += count
            if sample.marks is not None:
                sample.marks.extend([now - sample.start] * count)
        self.tail = joined[-32:]

    def _finish(self) -> None:
        sample = self.sample
        assert sample is not None and self.done is not None
        sample.end = time.perf_counter()
        self.sample = None
        if not self.keep_alive and self.transport is not None:
            self.closed = True
            self.transport.close()
        if not self.done.done():
            self.done.set_result(None)

    def _parse(self, now: float) -> None:  # noqa: C901 - one state machine
        while self.sample is not None:
            state = self.state
            buffer = self.buffer
            if state == "head":
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = buffer[:end].lower()
                self.buffer = buffer[end + 4 :]
                status_line, _, headers = head.partition(b"\r\n")
                self.sample.status = int(status_line.split(b" ", 2)[1])
                length: int | None = None
                for line in headers.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    value = value.strip()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"transfer-encoding" and b"chunked" in value:
                        self.chunked = True
                    elif name == b"connection" and value == b"close":
                        self.keep_alive = False
                if self.chunked:
                    self.state = "chunk_size"
                elif length is not None:
                    self.state = "length"
                    self.remaining = length
                else:
                    self.state = "eof"
                    self.keep_alive = False
            elif state == "length":
                if self.remaining == 0:
                    self._finish()
                    return
                if not buffer:
                    return
                piece = buffer[: self.remaining]
                self.buffer = buffer[len(piece) :]
                self.remaining -= len(piece)
                self._body(piece, now)
            elif state == "chunk_size":
                end = buffer.find(b"\r\n")
                if end < 0:
                    return
                self.remaining = int(buffer[:end].split(b";", 1)[0], 16)
                self.buffer = buffer[end + 2 :]
                self.state = "chunk_data" if self.remaining else "trailer"
            elif state == "chunk_data":
                if not buffer:
                    return
                piece = buffer[: self.remaining]
                self.buffer = buffer[len(piece) :]
                self.remaining -= len(piece)
                self._body(piece, now)
                if self.remaining == 0:
                    self.state = "chunk_crlf"
            elif state == "chunk_crlf":
                if len(buffer) < 2:
                    return
                self.buffer = buffer[2:]
                self.state = "chunk_size"
            elif state == "trailer":
                end = buffer.find(b"\r\n")
                if end < 0:
                    return
                self.buffer = buffer[end + 2 :]
                if end == 0:
                    self._finish()
                    return
            else:  # eof: read until the server closes
                if buffer:
                    self.buffer = b""
                    self._body(buffer, now)
                return


def build_payload(
    host: str,
    path: str,
    *,
    stream: bool,
    model: str,
    headers: list[str],
    pad_bytes: int,
    wire: str = "chat",
) -> bytes:
    """The request every worker sends: the same prompt as a Chat Completions body, or with
    ``wire="anthropic"`` as an Anthropic Messages body (system prompt on top)."""
    messages = [dict(m) for m in PROMPT]
    if pad_bytes:
        messages[0]["content"] += " " + "x" * pad_bytes
    body: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "max_tokens": 512,
        "temperature": 0.2,
        "stream": stream,
    }
    if wire == "anthropic":
        body["system"] = messages[0]["content"]
        body["messages"] = messages[1:]
    elif stream:
        body["stream_options"] = {"include_usage": True}
    data = json.dumps(body, separators=(",", ":")).encode()
    lines = [
        f"POST {path} HTTP/1.1",
        f"host: {host}",
        "content-type: application/json",
        "accept: " + ("text/event-stream" if stream else "application/json"),
        "authorization: Bearer bench",
        f"content-length: {len(data)}",
    ]
    for header in headers:
        name, _, value = header.partition(":")
        lines.append(f"{name.strip()}: {value.strip()}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of ``values`` (q in 0..100)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[min(len(ordered), int(rank)) - 1]


def summarize(values: list[float]) -> dict[str, float | None]:
    ms = [v * 1000 for v in values]
    if not ms:
        return {"p50": None, "p90": None, "p99": None, "max": None, "mean": None}
    out = {
        "p50": percentile(ms, 50),
        "p90": percentile(ms, 90),
        "p99": percentile(ms, 99),
        "max": max(ms),
        "mean": sum(ms) / len(ms),
    }
    return {k: round(v, 4) if v is not None else None for k, v in out.items()}


def proc_cpu_s(pid: int) -> tuple[float, float] | None:
    """(utime, stime) of a process in seconds, all its threads."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def proc_rss_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * PAGE_KB
    except OSError:
        return None


def machine_busy_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores."""
    with open("/proc/stat", "rb") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    total = sum(values[:8])
    idle = values[3] + values[4]
    return (total - idle) / CLK_TCK, total / CLK_TCK


class Watcher:
    """CPU deltas and peak RSS of some processes over the measured phase."""

    def __init__(self, pids: dict[str, int], interval_s: float = 0.05) -> None:
        self.pids = pids
        self.interval_s = interval_s
        self.cpu0: dict[str, tuple[float, float] | None] = {}
        self.peak: dict[str, int] = {}
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.cpu0 = {name: proc_cpu_s(pid) for name, pid in self.pids.items()}
        self.machine0 = machine_busy_s()
        self.self0 = resource.getrusage(resource.RUSAGE_SELF)
        self.wall0 = time.perf_counter()
        self._sample()
        self.task = asyncio.get_running_loop().create_task(self._run())

    def _sample(self) -> None:
        for name, pid in self.pids.items():
            rss = proc_rss_kb(pid)
            if rss is not None and rss > self.peak.get(name, 0):
                self.peak[name] = rss

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            self._sample()

    def stop(self) -> dict[str, Any]:
        if self.task is not None:
            self.task.cancel()
        self._sample()
        wall = time.perf_counter() - self.wall0
        busy1, _ = machine_busy_s()
        me = resource.getrusage(resource.RUSAGE_SELF)
        own = (me.ru_utime - self.self0.ru_utime) + (me.ru_stime - self.self0.ru_stime)
        cpu: dict[str, float | None] = {}
        cpu_sys: dict[str, float | None] = {}
        for name, pid in self.pids.items():
            now = proc_cpu_s(pid)
            before = self.cpu0.get(name)
            if now is None or before is None:
                cpu[name] = cpu_sys[name] = None
                continue
            cpu[name] = round(sum(now) - sum(before), 4)
            cpu_sys[name] = round(now[1] - before[1], 4)
        busy = busy1 - self.machine0[0]
        known = own + sum(v for v in cpu.values() if v is not None)
        cores = os.cpu_count() or 1
        return {
            "cpu_s": cpu,  # utime + stime
            "cpu_sys_s": cpu_sys,  # the stime part (system calls)
            "rss_peak_kb": dict(self.peak),
            "loadgen_cpu_s": round(own, 4),
            "machine_busy_s": round(busy, 3),
            # CPU used by programs other than the watched ones and this client, as a share of
            # the machine over the phase: high means the figures were disturbed.
            "foreign_cpu_share": round(max(0.0, busy - known) / (wall * cores), 3),
        }


async def open_connection(host: str, port: int) -> ClientProtocol:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(ClientProtocol, host, port)
    return protocol


class LoadRun:
    """One scenario: ``concurrency`` workers, one connection each, requests back to back."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        parts = urlsplit(args.url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.payload = build_payload(
            f"{self.host}:{self.port}",
            (parts.path.rstrip("/") or "") + args.path,
            stream=args.stream,
            model=args.model,
            headers=args.header,
            pad_bytes=args.pad_bytes,
            wire=args.wire,
        )
        self.samples: list[Sample] = []
        self.errors: dict[str, int] = {}
        self.issued = 0
        self.in_flight = 0
        self.peak = 0
        self.deadline = 0.0

    async def one(self, conn: ClientProtocol | None, record: bool) -> ClientProtocol | None:
        """Send one request (on a new connection if the last one closed); keep its sample."""
        args = self.args
        sample = Sample(time.perf_counter())
        if record and args.record_marks and len(self.samples) < args.record_marks:
            sample.marks = []
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            if conn is None or conn.closed:
                conn = await open_connection(self.host, self.port)
            await asyncio.wait_for(conn.send(self.payload, sample), args.timeout)
        except (TimeoutError, OSError, ConnectionClosed, ValueError) as exc:
            sample.error = type(exc).__name__
            if conn is not None and conn.transport is not None:
                conn.transport.close()
            conn = None
        self.in_flight -= 1
        if record:
            if not sample.error:
                sample.error = self.check(sample, conn)
            if sample.error:
                self.errors[sample.error] = self.errors.get(sample.error, 0) + 1
            self.samples.append(sample)
        return conn

    def check(self, sample: Sample, conn: ClientProtocol | None) -> str:
        args = self.args
        if sample.status != 200:
            return f"http_{sample.status}"
        if args.stream and args.expect_frames and sample.frames != args.expect_frames:
            return f"frames_{sample.frames}"
        end = b"message_stop" if args.wire == "anthropic" else b"[DONE]"
        if args.stream and conn is not None and end not in conn.tail:
            return "no_done"
        return ""

    async def worker(
        self, index: int, total: int, record: bool, conn: ClientProtocol | None
    ) -> ClientProtocol | None:
        args = self.args
        if record and args.ramp > 0:
            await asyncio.sleep(args.ramp * index / args.concurrency)
        while True:
            if args.duration and record:
                if time.perf_counter() >= self.deadline:
                    return conn
            elif self.issued >= total:
                return conn
            self.issued += 1
            conn = await self.one(conn, record)

    async def phase(
        self, conns: list[ClientProtocol | None], total: int, record: bool
    ) -> list[ClientProtocol | None]:
        self.issued = 0
        return list(
            await asyncio.gather(*[self.worker(i, total, record, c) for i, c in enumerate(conns)])
        )

    async def run(self) -> dict[str, Any]:
        args = self.args
        try:
            conns: list[ClientProtocol | None] = list(
                await asyncio.gather(
                    *[open_connection(self.host, self.port) for _ in range(args.concurrency)]
                )
            )
        except OSError as exc:
            return {"error": f"cannot connect to {args.url}: {exc}"}
        if args.warmup:
            conns = await self.phase(conns, args.warmup, False)
        watcher = Watcher(
            {name: int(pid) for name, _, pid in (w.partition("=") for w in args.watch_pid)}
        )
        self.peak = 0
        watcher.start()
        started = time.perf_counter()
        self.deadline = started + (args.duration or 0)
        conns = await self.phase(conns, args.requests, True)
        elapsed = time.perf_counter() - started
        watched = watcher.stop()
        for conn in conns:
            if conn is not None and conn.transport is not None:
                conn.transport.close()
        return self.report(elapsed, watched)

    def report(self, elapsed: float, watched: dict[str, Any]) -> dict[str, Any]:
        args = self.args
        samples = self.samples
        ok = [s for s in samples if not s.error]
        result: dict[str, Any] = {
            "url": args.url,
            "stream": args.stream,
            "concurrency": args.concurrency,
            "requests": len(samples),
            "ok": len(ok),
            "errors": sum(self.errors.values()),
            "error_kinds": self.errors,
            "elapsed_s": round(elapsed, 4),
            "rps": round(len(ok) / elapsed, 1) if elapsed else None,
            "peak_in_flight": self.peak,
            "latency_ms": summarize([s.end - s.start for s in ok]),
            **watched,
        }
        if args.stream:
            result["ttft_ms"] = summarize([s.ttft for s in ok if s.ttft is not None])
            frames = [s.frames for s in samples]
            result["frames"] = {"min": min(frames, default=0), "max": max(frames, default=0)}
            marks = [[round(m * 1000, 2) for m in s.marks] for s in samples if s.marks]
            if marks:
                result["frame_marks_ms"] = marks
        return result


async def run(args: argparse.Namespace) -> dict[str, Any]:
    return await LoadRun(args).run()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="base URL, e.g. http://127.0.0.1:8088")
    parser.add_argument("--path", default="/v1/chat/completions")
    parser.add_argument(
        "--wire",
        choices=("chat", "anthropic"),
        default="chat",
        help="request body format: Chat Completions, or Anthropic Messages (with --path "
        "/v1/messages)",
    )
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--concurrency", "-c", type=int, default=1)
    parser.add_argument(
        "--requests",
        "-n",
        type=int,
        default=1000,
        help="measured requests in total (ignored with --duration)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=0.0,
        help="measure for this many seconds instead of --requests",
    )
    parser.add_argument(
        "--warmup", type=int, default=0, help="requests sent first and left out of every figure"
    )
    parser.add_argument(
        "--ramp",
        type=float,
        default=0.0,
        help="spread the workers' first requests over this many seconds",
    )
    parser.add_argument("--model", default="bench-model")
    parser.add_argument("--header", action="append", default=[], metavar="NAME:VALUE")
    parser.add_argument(
        "--pad-bytes", type=int, default=0, help="grow the system prompt by this many bytes"
    )
    parser.add_argument(
        "--expect-frames",
        type=int,
        default=0,
        help="SSE frames a complete stream has (0: do not check)",
    )
    parser.add_argument(
        "--record-marks",
        type=int,
        default=0,
        help="keep frame arrival times of the first N streams",
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="per request, seconds")
    parser.add_argument(
        "--watch-pid",
        action="append",
        default=[],
        metavar="NAME=PID",
        help="report CPU time and peak RSS of this process over the run",
    )
    parser.add_argument("--no-uvloop", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.concurrency < 1:
        print("--concurrency must be at least 1", file=sys.stderr)
        return 2
    runner: Any = asyncio.run
    if not args.no_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            runner = uvloop.run
    result = runner(run(args))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 1 if "error" in result else 0


if __name__ == "__main__":
    raise SystemExit(main())
