"""``coderouter doctor``: providers chosen, probes from the hook, output, exit codes, paid
providers and ``--env``."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from coderouter.cli import main
from coderouter.testing import Answer, ConfigBuilder, FakeUpstream, chat_completion

GOOD = Answer.json(chat_completion("MARIGOLD-4417", prompt_tokens=6000))


def config(tmp_path: Path, *upstreams: FakeUpstream, **extra: Any) -> str:
    builder = ConfigBuilder()
    names = []
    for i, upstream in enumerate(upstreams):
        names.append(f"p{i}")
        builder.provider(f"p{i}", upstream, model="m", **extra.get(f"p{i}", {}))
    builder.profile("default", names[:1]).profile("other", names[1:] or names[:1])
    return str(builder.write(tmp_path))


def doctor(path: str, *args: str) -> int:
    return main(["--config", path, "doctor", *args])


def test_all_ok_exits_0_and_prints_a_plain_table(
    tmp_path: Path, fake_upstreams: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config(tmp_path, fake_upstreams(GOOD))
    assert doctor(path, "--probe", "context") == 0
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert lines[0] == "p0 (openai, m)"
    assert lines[1].split()[:2] == ["reach", "ok"]
    assert lines[2].split()[:2] == ["context", "ok"]
    assert lines[-1] == "every probe passed"
    assert "\x1b[" not in out.out
    assert "p0: done (2 ok)" in out.err


def test_needs_tuning_exits_2_and_json_carries_the_patch(
    tmp_path: Path, fake_upstreams: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config(tmp_path, fake_upstreams(Answer.json(chat_completion("sunny"))))
    assert doctor(path, "--probe", "tools", "--json") == 2
    report = json.loads(capsys.readouterr().out)
    assert report["exit"] == 2
    tools = report["providers"]["p0"]["results"][1]
    assert tools["verdict"] == "needs_tuning"
    assert tools["patch"] == ["providers[p0].capabilities.tools = false"]


def test_a_failure_exits_1_and_skips_the_rest(
    tmp_path: Path, fake_upstreams: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config(tmp_path, fake_upstreams(Answer.error(500, "boom")))
    assert doctor(path, "--json") == 1
    results = json.loads(capsys.readouterr().out)["providers"]["p0"]["results"]
    assert results[0] == {
        "probe": "reach",
        "verdict": "transport_error",
        "reason": "HTTP 500: boom",
    }
    assert {r["verdict"] for r in results[1:]} == {"skip"}
    assert len(results) == 8


def test_provider_and_profile_choose_who_is_probed(
    tmp_path: Path, fake_upstreams: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = fake_upstreams(GOOD), fake_upstreams(GOOD)
    path = config(tmp_path, first, second)
    assert doctor(path, "--profile", "other", "--probe", "reach", "--json") == 0
    assert list(json.loads(capsys.readouterr().out)["providers"]) == ["p1"]
    assert (first.count, second.count) == (0, 1)
    assert doctor(path, "--provider", "p0", "--provider", "p1", "--probe", "reach") == 0
    assert (first.count, second.count) == (1, 2)
    assert doctor(path, "--provider", "nope") == 1
    assert "unknown provider 'nope' (known: p0, p1)" in capsys.readouterr().err
    assert doctor(path, "--probe", "nope") == 1
    assert "unknown probe 'nope' (known: reach, context" in capsys.readouterr().err


def test_providers_are_probed_in_parallel(
    tmp_path: Path, fake_upstreams: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    slow = [fake_upstreams(Answer.hang(0.5, chat_completion("pong"))) for _ in range(3)]
    path = config(tmp_path, *slow)
    started = time.monotonic()
    assert doctor(path, "--probe", "reach") == 0
    assert time.monotonic() - started < 1.4
    assert all(s.count == 1 for s in slow)


def test_paid_providers_need_allow_paid_and_get_an_estimate(
    tmp_path: Path, fake_upstreams: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    upstream = fake_upstreams(GOOD)
    path = config(tmp_path, upstream, p0={"paid": True})
    assert doctor(path, "--json") == 0
    [result] = json.loads(capsys.readouterr().out)["providers"]["p0"]["results"]
    assert result["verdict"] == "skip"
    assert result["reason"].startswith("paid provider: probed only with --allow-paid (about ")
    assert upstream.count == 0
    assert doctor(path, "--allow-paid", "--probe", "context") == 0
    err = capsys.readouterr().err
    assert "probing paid providers spends about 6" in err and "(p0 ~6" in err
    assert upstream.count == 2


class Echo:
    name, required = "echo", False

    def estimated_tokens(self, context: Any) -> int:
        return 1

    async def run(self, context: Any) -> Any:
        reply = await context.client.send(__import__("coderouter_doctor").user_request("hi"))
        return context.result(self.name, "ok", f"said {reply.text}")


def test_a_plugin_contributes_probes_through_the_hook(
    fake_upstream: FakeUpstream, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    from coderouter_doctor import run_doctor
    from coderouter_doctor.cli import probes_of

    from coderouter import hookimpl
    from coderouter.plugins import load_plugins

    class EchoPlugin:
        @hookimpl
        def doctor_probes(self) -> list[Any]:
            return [Echo()]

    config = ConfigBuilder().provider("p", fake_upstream).profile("default", ["p"]).build()
    pm = load_plugins(config, extra=[("echo", EchoPlugin())])
    probes = probes_of(pm, ["echo"])
    assert [p.name for p in probes] == ["reach", "echo"]
    [report] = asyncio.run(run_doctor(config, pm, config.providers, probes))
    assert [(r.probe, r.verdict, r.reason) for r in report.results][1] == (
        "echo",
        "ok",
        "said hello",
    )


def test_the_command_works_without_enabling_the_plugin(tmp_path: Path) -> None:
    path = ConfigBuilder().provider("p", "http://127.0.0.1:9/v1").profile("default", ["p"])
    written = path.write(tmp_path)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "coderouter.cli",
            "--config",
            str(written),
            "doctor",
            "--probe",
            "reach",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "  reach  transport_error  connect: cannot connect to 127.0.0.1:9" in done.stdout


def test_env_file_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = (
        ConfigBuilder()
        .provider("cloud", "https://example.invalid/v1", api_key_env="CLOUD_KEY")
        .provider("other", "https://example.invalid/v1", api_key_env="OTHER_KEY")
        .profile("default", ["cloud", "other"])
        .write(tmp_path)
    )
    env = tmp_path / ".env"
    env.write_text("CLOUD_KEY=sk-1\n", encoding="utf-8")
    env.chmod(0o644)
    git = ["git", "-C", str(tmp_path), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    assert doctor(str(cfg), "--env", str(env)) == 2
    out = capsys.readouterr().out
    assert f"chmod 600 {env}" in out
    assert "is not ignored by git: add .env to .gitignore" in out
    assert "has no OTHER_KEY" in out
    subprocess.run([*git, "add", ".env"], check=True)
    assert doctor(str(cfg), "--env", str(env)) == 1
    assert "is tracked by git" in capsys.readouterr().out
    subprocess.run([*git, "rm", "-q", "--cached", ".env"], check=True)
    (tmp_path / ".gitignore").write_text(".env\n", encoding="utf-8")
    env.chmod(0o600)
    env.write_text("CLOUD_KEY=sk-1\nexport OTHER_KEY=sk-2\n", encoding="utf-8")
    assert doctor(str(cfg), "--env", str(env)) == 0
    assert "safe" in capsys.readouterr().out
    assert doctor(str(cfg), "--env", str(tmp_path / "missing.env")) == 1
