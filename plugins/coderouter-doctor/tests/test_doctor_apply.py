"""``--apply`` / ``--dry-run`` on the annotated contrib config: comments and key order
survive, a ``.bak`` is written, a second run writes nothing."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest
from coderouter_doctor import Append, Enable, Patch, Set, apply_patches
from coderouter_doctor.apply import write_patches

from coderouter.cli import main
from coderouter.testing import Answer, chat_completion

CONTRIB = Path(__file__).resolve().parents[3] / "contrib" / "coderouter.example.toml"
AS_TEXT = 'MARIGOLD-4417 ```json\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n```'
PROBES = [
    "--provider",
    "ollama",
    "--provider",
    "llamacpp",
    "--probe",
    "context",
    "--probe",
    "tools",
]


def comments(text: str) -> list[str]:
    return [line.split("#", 1)[1] for line in text.splitlines() if "#" in line]


@pytest.fixture
def contrib(tmp_path: Path, fake_upstreams: Any) -> Path:
    """The contrib config with ollama (which cuts prompts at 2048 tokens and never calls
    tools) and llamacpp (which writes its calls as text) on fake upstreams."""
    ollama = fake_upstreams(Answer.json(chat_completion("sunny", prompt_tokens=2048)))
    llamacpp = fake_upstreams(Answer.json(chat_completion(AS_TEXT, prompt_tokens=6000)))
    text = CONTRIB.read_text(encoding="utf-8")
    text = text.replace("http://127.0.0.1:11434/v1", ollama.url + "/v1")
    text = text.replace("http://127.0.0.1:8080/v1", llamacpp.url + "/v1")
    path = tmp_path / "coderouter.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_dry_run_prints_the_diff_and_writes_nothing(
    contrib: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = contrib.read_text(encoding="utf-8")
    assert main(["--config", str(contrib), "doctor", *PROBES, "--dry-run"]) == 2
    out = capsys.readouterr().out
    assert "+capabilities = {max_context_tokens = 2048, tools = false}" in out
    assert '+enabled_providers = ["llamacpp"]' in out
    assert "dry run: 4 changes, nothing written" in out
    assert contrib.read_text(encoding="utf-8") == before
    assert not contrib.with_name("coderouter.toml.bak").exists()


def test_apply_round_trip(contrib: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = contrib.read_text(encoding="utf-8")
    assert main(["--config", str(contrib), "doctor", *PROBES, "--apply"]) == 2
    assert "wrote " in capsys.readouterr().out
    after = contrib.read_text(encoding="utf-8")
    backup = contrib.with_name("coderouter.toml.bak")
    assert backup.read_text(encoding="utf-8") == before
    assert comments(after)[: len(comments(before))] != [] and all(
        c.strip() in after for c in comments(before)
    )
    data = tomllib.loads(after)
    ollama, llamacpp = data["providers"][0], data["providers"][1]
    assert ollama["capabilities"] == {"max_context_tokens": 2048, "tools": False}
    assert list(ollama)[:5] == ["name", "kind", "base_url", "model", "timeout_s"]
    assert "capabilities" not in llamacpp
    assert data["plugins"]["enabled"] == ["tool_repair"]
    assert data["plugins"]["tool_repair"] == {"enabled_providers": ["llamacpp"]}
    removed = [line for line in before.splitlines() if line not in after.splitlines()]
    assert removed == [line for line in before.splitlines() if line.startswith("enabled = []")]

    # Second run: the declared context and tools and the repair now match what the probes
    # see, so nothing needs a patch and nothing is written.
    assert main(["--config", str(contrib), "doctor", *PROBES, "--apply", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    verdicts = {
        name: [r["verdict"] for r in p["results"]] for name, p in report["providers"].items()
    }
    assert verdicts == {"ollama": ["ok", "unsupported", "unsupported"], "llamacpp": ["ok"] * 3}
    assert contrib.read_text(encoding="utf-8") == after
    assert backup.read_text(encoding="utf-8") == before


def test_patches_already_in_the_file_are_already_applied(tmp_path: Path) -> None:
    path = tmp_path / "coderouter.toml"
    shutil.copy(CONTRIB, path)
    patches = [
        Patch((Set(("providers", "ollama", "capabilities", "tools"), False),)),
        Patch(
            (Enable("tool_repair"), Append(("plugins", "tool_repair", "enabled_providers"), "x"))
        ),
    ]
    first = write_patches(path, patches, dry_run=False)
    assert first.message.startswith("wrote ") and not first.failed
    written = path.read_text(encoding="utf-8")
    path.with_name("coderouter.toml.bak").unlink()
    second = write_patches(path, patches, dry_run=False)
    assert second.message.startswith("already applied")
    assert second.diff == ""
    assert path.read_text(encoding="utf-8") == written
    assert not path.with_name("coderouter.toml.bak").exists()


def test_a_patch_that_breaks_the_config_is_not_written(tmp_path: Path) -> None:
    path = tmp_path / "coderouter.toml"
    shutil.copy(CONTRIB, path)
    outcome = write_patches(
        path, [Patch((Set(("providers", "ollama", "timeout_s"), -1),))], dry_run=False
    )
    assert outcome.failed and "would not load" in outcome.message
    assert "timeout_s: must be positive" in outcome.message
    assert path.read_text(encoding="utf-8") == CONTRIB.read_text(encoding="utf-8")


def test_enable_keeps_output_filters_before_tool_repair() -> None:
    text = '[plugins]\nenabled = ["tool_loop", "tool_repair"]  # order matters\n'
    patched, changed = apply_patches(
        text, [Patch((Enable("output_filters", before=("tool_repair",)),))]
    )
    assert changed == ['plugins.enabled += ["output_filters"]']
    assert patched == (
        '[plugins]\nenabled = ["tool_loop", "output_filters", "tool_repair"]  # order matters\n'
    )


def test_a_provider_the_file_lacks_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "coderouter.toml"
    shutil.copy(CONTRIB, path)
    outcome = write_patches(
        path, [Patch((Set(("providers", "gone", "model"), "x"),))], dry_run=True
    )
    assert outcome.failed
    assert "no [[providers]] table with name = 'gone'" in outcome.message
