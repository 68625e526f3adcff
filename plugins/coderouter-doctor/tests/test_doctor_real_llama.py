"""``coderouter doctor`` against a real llama.cpp server (llama-cpp-python with Gemma 3 270M,
a base model) running with a 512-token context: the verdicts it really earns, and the
``--apply`` that fixes the config for it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from coderouter.cli import main
from coderouter.testing import ConfigBuilder
from coderouter.testing.llama import MODEL_ALIAS

pytestmark = [pytest.mark.real_backend, pytest.mark.timeout(600)]

SMALL_CTX = 512


def run(path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any]:
    code = main(
        ["--config", str(path), "doctor", "--probe", "context", "--probe", "tools", "--json", *args]
    )
    report = json.loads(capsys.readouterr().out)
    return code, {r["probe"]: r for r in report["providers"]["llamacpp"]["results"]}


def test_a_small_n_ctx_is_measured_and_patched(
    llama_server: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = llama_server(SMALL_CTX)
    path = (
        ConfigBuilder()
        .provider("llamacpp", server.base_url, model=MODEL_ALIAS, timeout_s=300)
        .profile("default", ["llamacpp"])
        .write(tmp_path)
    )
    code, results = run(path, capsys, "--dry-run")
    assert code == 2
    assert results["reach"]["verdict"] == "ok"
    context = results["context"]
    assert context["verdict"] == "needs_tuning"
    assert "HTTP 400" in context["reason"] and "usable context 512 tokens" in context["reason"]
    assert context["patch"] == ["providers[llamacpp].capabilities.max_context_tokens = 512"]
    assert context["advice"] == "start llama-server with --ctx-size 32768 (it keeps 512 tokens now)"
    # A base model answers the weather question with prose, never a call.
    assert results["tools"]["verdict"] == "needs_tuning"
    assert results["tools"]["patch"] == ["providers[llamacpp].capabilities.tools = false"]

    code, _ = run(path, capsys, "--apply")
    assert code == 2
    assert path.with_name("coderouter.toml.bak").exists()
    patched = path.read_text(encoding="utf-8")
    assert "max_context_tokens = 512" in patched and "tools = false" in patched

    # With the window declared, the canary prompt is sized to fit: no more context patch.
    code, results = run(path, capsys, "--apply")
    assert results["context"]["verdict"] in ("ok", "unsupported")
    assert results["context"]["metrics"]["sent_tokens"] <= SMALL_CTX * 3 // 4 + 40
    assert results["tools"]["verdict"] == "unsupported"
    assert code == 0
    assert path.read_text(encoding="utf-8") == patched
