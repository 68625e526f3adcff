"""``bench/run.py --plugins``: what each plugin costs on top of the core.

One router per configuration, all started at once and measured in turn (round robin, so a
disturbance of the machine spreads over every configuration instead of landing on one): the
core alone, each plugin alone with the minimal settings of its README, and all ten. Each is
measured for Chat Completions pass-through and Anthropic Messages → Chat translation, non-stream
and 50-chunk streams. CPU per request is the worker's utime+stime over the measured phase; the
best of the repeats counts.

The client names no profile (``model`` is ``bench-model``), so profile selection runs as it does
for a real client and the matchers plugin has its say; the one provider is the fake upstream.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coderouter.testing import ConfigBuilder, free_port

BENCH = Path(__file__).resolve().parent

__all__ = ["ALL", "CORE", "PLUGINS", "SweepCase", "render_sweep", "run_sweep"]

CORE = "core"
ALL = "all ten"
# The order of "all ten": output filters before tool repair (a call inside <think> is not a
# call), metrics last so it sees every other plugin's log fields.
PLUGINS = (
    "matchers",
    "tool_loop",
    "capabilities",
    "backend_health",
    "memory_pressure",
    "adaptive",
    "cost",
    "output_filters",
    "tool_repair",
    "metrics",
)
PROFILE = "bench"


def minimal_settings(name: str) -> dict[str, Any]:
    """``[plugins.<name>]`` as the plugin's README shows it at its smallest."""
    if name == "matchers":
        return {
            "default": PROFILE,
            "rules": [
                {"name": "haiku", "profile": PROFILE, "match": {"model_pattern": "claude-haiku-.*"}}
            ],
        }
    if name in ("backend_health", "memory_pressure"):
        return {"action": "skip"}
    return {}


@dataclass(frozen=True)
class SweepCase:
    """One measured cell: an ingress wire format and stream or not."""

    key: str
    title: str
    wire: str  # chat | anthropic
    stream: bool
    concurrency: int
    requests: int
    warmup: int

    @property
    def path(self) -> str:
        return "/v1/messages" if self.wire == "anthropic" else "/v1/chat/completions"


def cases(quick: bool) -> list[SweepCase]:
    scale = 4 if quick else 1
    json_n, stream_n = 8000 // scale, 2400 // scale
    return [
        SweepCase("chat-json", "Chat pass-through, non-stream", "chat", False, 16, json_n, 400),
        SweepCase("chat-stream", "Chat pass-through, stream", "chat", True, 8, stream_n, 80),
        SweepCase("anth-json", "Anthropic → Chat, non-stream", "anthropic", False, 16, json_n, 400),
        SweepCase("anth-stream", "Anthropic → Chat, stream", "anthropic", True, 8, stream_n, 80),
    ]


def sweep_config(
    folder: Path, upstream_port: int, plugins: tuple[str, ...], *, off: bool = False
) -> Path:
    """The sweep's config; ``off``: the plugins enabled but turned off for the profile every
    request uses (``[profiles.bench.plugins.<name>] enabled = false``)."""
    folder.mkdir(parents=True, exist_ok=True)
    builder = ConfigBuilder()
    builder.provider(PROFILE, f"http://127.0.0.1:{upstream_port}/v1", model="bench-model")
    switches = {name: {"enabled": False} for name in plugins} if off else {}
    builder.profile(PROFILE, [PROFILE], **({"plugins": switches} if switches else {}))
    for name in plugins:
        builder.plugin(name, **minimal_settings(name))
    builder.router(default_profile=PROFILE, log_requests=False, state_dir=str(folder / "state"))
    builder.server(graceful_timeout_s=5)
    return builder.write(folder)


def configurations(only: list[str] | None) -> dict[str, tuple[str, ...]]:
    every: dict[str, tuple[str, ...]] = {CORE: ()}
    every.update({name: (name,) for name in PLUGINS})
    every[ALL] = PLUGINS
    if only:
        every = {k: v for k, v in every.items() if k in only or k == CORE}
    return every


def loadgen(url: str, case: SweepCase, worker: int) -> dict[str, Any]:
    argv = [
        sys.executable,
        str(BENCH / "loadgen.py"),
        "--url",
        url,
        "--path",
        case.path,
        "--wire",
        case.wire,
        "--concurrency",
        str(case.concurrency),
        "--requests",
        str(case.requests),
        "--warmup",
        str(case.warmup),
        "--watch-pid",
        f"worker={worker}",
    ]
    if case.stream:
        # No exact frame count: a re-encoded stream may group its chunks differently (a role
        # chunk of its own); the stream must still end properly ([DONE] / message_stop).
        argv += ["--stream"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"loadgen failed ({done.returncode}): {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def cpu_ms(result: dict[str, Any]) -> float | None:
    cpu = result.get("cpu_s", {}).get("worker")
    if cpu is None or not result.get("ok") or result.get("errors"):
        return None
    return float(cpu) / float(result["ok"]) * 1000


def run_sweep(
    *,
    workdir: Path,
    upstream_port: int,
    start_router: Callable[[str, Path, int], tuple[str, int]],
    repeat: int,
    quick: bool,
    only: list[str] | None,
    wait_quiet: Callable[[], None],
    say: Callable[[str], None],
) -> dict[str, Any]:
    """Measure every configuration; ``start_router(label, config, port)`` starts one and
    returns its URL and worker pid. Returns ``{"cases": ..., "cpu_ms": {config: {case:
    [runs]}}}``."""
    chosen = cases(quick)
    routers: dict[str, tuple[str, int]] = {}
    for label, plugins in configurations(only).items():
        folder = workdir / "plugins" / label.replace(" ", "-")
        config = sweep_config(folder, upstream_port, plugins)
        routers[label] = start_router(f"router ({label})", config, free_port())
    for url, worker in routers.values():
        # warm each worker: imports on first use, the upstream connection pool
        for case in chosen:
            loadgen(url, SweepCase(**{**case.__dict__, "requests": 100, "warmup": 0}), worker)
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {k: {} for k in routers}
    for index in range(repeat):
        for case in chosen:
            for label, (url, worker) in routers.items():
                wait_quiet()
                result = loadgen(url, case, worker)
                runs[label].setdefault(case.key, []).append(result)
                value = cpu_ms(result)
                shown = f"{value:.3f} ms" if value is not None else f"ERRORS {result}"[:300]
                say(
                    f"  run {index + 1} {case.key:<12} {label:<16} {shown}"
                    f"  [other CPU {result.get('foreign_cpu_share', 0):.0%}]"
                )
    return {
        "cases": [c.__dict__ for c in chosen],
        "runs": runs,
        "cpu_ms": {
            label: {key: [cpu_ms(r) for r in results] for key, results in per.items()}
            for label, per in runs.items()
        },
    }


def _best(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return min(kept) if kept else None


def render_sweep(sweep: dict[str, Any]) -> str:
    """One table: CPU ms per request for every configuration and case, with the difference
    to the core in µs (one plugin) or as a ratio (all ten), then the translation ratio."""
    keys = [c["key"] for c in sweep["cases"]]
    titles = {c["key"]: c["title"] for c in sweep["cases"]}
    best = {
        label: {key: _best(per.get(key, [])) for key in keys}
        for label, per in sweep["cpu_ms"].items()
    }
    core = best.get(CORE, {})
    lines = ["CPU per request, ms (best of the runs); in brackets: added µs over the core, or x"]
    lines += [f"  {key}: {titles[key]}" for key in keys]
    header = f"{'configuration':<16}" + "".join(f"{key:>22}" for key in keys)
    lines += ["", header, "-" * len(header)]
    for label, values in best.items():
        cells = []
        for key in keys:
            value, base = values[key], core.get(key)
            if value is None:
                cells.append(f"{'-':>22}")
                continue
            if label == CORE or base is None:
                extra = ""
            elif label == ALL:
                extra = f" (x{value / base:.2f})"
            else:
                extra = f" ({(value - base) * 1000:+.0f})"
            cells.append(f"{value:.3f}{extra}".rjust(22))
        lines.append(f"{label:<16}" + "".join(cells))
    lines.append("")
    for label in (CORE, ALL):
        values = best.get(label)
        if not values:
            continue
        for kind in ("json", "stream"):
            chat, anth = values.get(f"chat-{kind}"), values.get(f"anth-{kind}")
            if chat and anth:
                lines.append(
                    f"Anthropic → Chat against pass-through, {label}, {kind}: x{anth / chat:.2f}"
                )
    return "\n".join(lines)
