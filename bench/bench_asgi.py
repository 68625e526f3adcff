"""Requests through the whole app in process: the gunicorn target driven by a synthetic ASGI
server (bench/run.py's ``AsgiDriver``, one request at a time) against the fake upstream,
with the sweep's configurations (bench/plugin_sweep.py).

    python bench/bench_asgi.py [--wire chat|anthropic] [--stream] [--plugins core|all|NAME]
                               [--off] [--requests 2000]

Prints the process CPU per request. For deterministic figures on a busy machine count
instructions: run it under ``valgrind --tool=callgrind`` (the fake upstream is a child
process, not traced) with two request counts and divide the difference of the totals by the
difference of the counts (startup, imports and warm-up cancel out).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from plugin_sweep import ALL, CORE, PLUGINS, sweep_config  # noqa: E402
from run import AsgiDriver, Server  # noqa: E402

from coderouter.testing import free_port  # noqa: E402

WARMUP = 50


async def drive(driver: AsgiDriver, requests: int) -> float:
    await driver.lifespan("startup")
    await driver.batch(WARMUP, 1)
    started = time.process_time()
    await driver.batch(requests, 1)
    spent = time.process_time() - started
    await driver.lifespan("shutdown")
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wire", choices=["chat", "anthropic"], default="chat")
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--plugins", default=CORE, help=f"{CORE}, all, or one of the sweep's")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument(
        "--off", action="store_true", help="the plugins turned off for the requests' profile"
    )
    args = parser.parse_args()
    plugins = {CORE: (), "all": PLUGINS, ALL: PLUGINS}.get(args.plugins, (args.plugins,))
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        upstream = Server(
            "fake upstream",
            [sys.executable, str(BENCH / "fake_upstream.py"), "--port", str(port)],
            port,
            log_path=workdir / "upstream.log",
        )
        upstream.start()
        try:
            os.environ["CODEROUTER_CONFIG"] = str(
                sweep_config(workdir, port, plugins, off=args.off)
            )
            app = importlib.import_module("coderouter.asgi").app
            driver = AsgiDriver(app, stream=args.stream, wire=args.wire)
            spent = asyncio.run(drive(driver, args.requests))
        finally:
            upstream.stop()
    kind = "stream" if args.stream else "non-stream"
    print(
        f"{args.plugins}{' (off for the profile)' if args.off else ''}, {args.wire}, {kind}: "
        f"{spent / args.requests * 1000:.3f} ms CPU per request"
    )


if __name__ == "__main__":
    main()
