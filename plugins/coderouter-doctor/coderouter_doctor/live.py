"""Progress while the doctor runs: one line per provider, redrawn in place on a terminal
(rich), one line per finished provider when stderr is not a terminal."""

from __future__ import annotations

from types import TracebackType
from typing import IO, Any

from coderouter.config import ProviderConfig
from coderouter_doctor.probe import ProbeResult

__all__ = ["ProgressLines"]


class ProgressLines:
    def __init__(self, out: IO[str], probes: int) -> None:
        self.out = out
        self.probes = probes
        self.lines: dict[str, str] = {}
        self.counts: dict[str, dict[str, int]] = {}
        self.live: Any = None

    def __enter__(self) -> ProgressLines:
        if self.out.isatty():
            from rich.console import Console
            from rich.live import Live

            self.live = Live(console=Console(file=self.out), transient=True, auto_refresh=False)
            self.live.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.live is not None:
            self.live.stop()

    def update(self, provider: ProviderConfig, probe: str, result: ProbeResult | None) -> None:
        counts = self.counts.setdefault(provider.name, {})
        if result is None:
            self.lines[provider.name] = f"{provider.name}: {probe} …"
        else:
            counts[result.verdict] = counts.get(result.verdict, 0) + 1
            tally = ", ".join(f"{n} {verdict}" for verdict, n in counts.items())
            self.lines[provider.name] = f"{provider.name}: {probe} {result.verdict} ({tally})"
        if self.live is not None:
            from rich.text import Text

            self.live.update(Text("\n".join(self.lines.values())), refresh=True)
        elif result is not None and sum(counts.values()) == self.probes:
            print(f"{provider.name}: done ({tally})", file=self.out, flush=True)
