"""Test configs (:class:`ConfigBuilder`) and ``coderouter serve`` as a process
(:class:`RouterProcess`).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from coderouter.config import Config, parse_config
from coderouter.testing.raw import RawUpstream
from coderouter.testing.upstream import FakeUpstream, free_port

# --- config ----------------------------------------------------------------------------------


class ConfigBuilder:
    """Fluent builder for test configs.

    >>> cfg = (ConfigBuilder().provider("a", "http://127.0.0.1:9/v1")
    ...        .profile("default", ["a"]).build())
    """

    def __init__(self) -> None:
        self.data: dict[str, Any] = {
            "server": {},
            "router": {},
            "plugins": {"enabled": []},
            "providers": [],
            "profiles": {},
        }

    def provider(
        self,
        name: str,
        base_url: str | FakeUpstream | RawUpstream,
        *,
        kind: str = "openai",
        **settings: Any,
    ) -> ConfigBuilder:
        """``base_url``: a URL, or a fake upstream (``/v1`` is added for the OpenAI kinds)."""
        url = base_url if isinstance(base_url, str) else base_url.url
        if not isinstance(base_url, str) and kind in ("openai", "openai_responses"):
            url += "/v1"
        self.data["providers"].append({"name": name, "base_url": url, "kind": kind, **settings})
        return self

    def profile(self, name: str, providers: Sequence[str], **settings: Any) -> ConfigBuilder:
        self.data["profiles"][name] = {"providers": list(providers), **settings}
        if not self.data["router"].get("default_profile") and name == "default":
            self.data["router"]["default_profile"] = name
        return self

    def plugin(self, name: str, **settings: Any) -> ConfigBuilder:
        self.data["plugins"]["enabled"].append(name)
        if settings:
            self.data["plugins"][name] = settings
        return self

    def router(self, **settings: Any) -> ConfigBuilder:
        self.data["router"].update(settings)
        return self

    def server(self, **settings: Any) -> ConfigBuilder:
        self.data["server"].update(settings)
        return self

    def state(self, **settings: Any) -> ConfigBuilder:
        """``[state]`` settings (``backend="redis", url=...``)."""
        self.data.setdefault("state", {}).update(settings)
        return self

    def raw(self) -> dict[str, Any]:
        data = json.loads(json.dumps(self.data))
        if not data["router"].get("default_profile") and data["profiles"]:
            data["router"]["default_profile"] = next(iter(data["profiles"]))
        return dict(data)

    def build(self) -> Config:
        return parse_config(self.raw(), source="<test config>")

    def write(self, directory: str | os.PathLike[str] | None = None) -> Path:
        import tomli_w

        folder = Path(directory or tempfile.mkdtemp(prefix="coderouter-test-"))
        path = folder / "coderouter.toml"
        path.write_text(tomli_w.dumps(self.raw()), encoding="utf-8")
        return path


# --- the router as a process -----------------------------------------------------------------


class RouterProcess:
    """``coderouter serve`` in a subprocess on a free port; waits until ``/healthz`` answers.

    stderr (the startup line and the JSON request log) is captured to a file:
    :meth:`log_lines` reads it.
    """

    def __init__(
        self,
        config_path: str | os.PathLike[str],
        *,
        workers: int = 1,
        env: dict[str, str] | None = None,
        port: int | None = None,
        startup_timeout_s: float = 20.0,
    ) -> None:
        self.port = port or free_port()
        self.config_path = str(config_path)
        self._stderr = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as the process
            prefix="coderouter-stderr-", suffix=".log", delete=False
        )
        full_env = dict(os.environ)
        full_env.pop("CODEROUTER_ALLOW_PAID", None)
        full_env.update(env or {})
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "coderouter.cli",
                "serve",
                "--config",
                self.config_path,
                "--port",
                str(self.port),
                "--workers",
                str(workers),
            ],
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            env=full_env,
        )
        self.ready_after_s = self._wait_ready(startup_timeout_s)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _wait_ready(self, timeout_s: float) -> float:
        import urllib.request

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"coderouter serve exited with {self.process.returncode}:\n"
                    + self.stderr_text()
                )
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as resp:
                    if resp.status == 200:
                        return time.monotonic() - self.started_at
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("coderouter serve did not become ready:\n" + self.stderr_text())

    def stderr_text(self) -> str:
        return Path(self._stderr.name).read_text(encoding="utf-8", errors="replace")

    def log_lines(self, event: str | None = "request") -> list[dict[str, Any]]:
        """The JSON log records written so far (optionally only one ``event`` kind)."""
        out = []
        for line in self.stderr_text().splitlines():
            if not line.startswith("{"):
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if event is None or record.get("event") == event:
                out.append(record)
        return out

    def wait_for_log(
        self, count: int, event: str = "request", timeout_s: float = 5.0
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while True:
            lines = self.log_lines(event)
            if len(lines) >= count or time.monotonic() > deadline:
                return lines
            time.sleep(0.02)

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 15.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL to the server and every worker at once, as a host that loses power: no
        worker notices its parent gone and finishes what it was doing."""
        pids = [self.process.pid]
        for pid in pids:
            try:
                for task in Path(f"/proc/{pid}/task").iterdir():
                    pids += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
        for pid in reversed(pids):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(5)

    def __enter__(self) -> RouterProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
