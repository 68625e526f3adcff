"""``probe_once``: one probe against a provider served by a scripted fake upstream."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from coderouter_doctor import ProbeResult, run_doctor
from coderouter_doctor.probe import Probe

from coderouter.plugins import load_plugins
from coderouter.testing import Answer, ConfigBuilder, FakeUpstream


@pytest.fixture
def probe_once(fake_upstream: FakeUpstream) -> Callable[..., ProbeResult]:
    """``probe_once(probe, *answers, kind=..., name=..., plugins={name: settings},
    **provider_settings)``: the probe's result against a provider answering ``answers`` in
    order. ``probe_once.upstream`` is the fake upstream (to read what was sent)."""

    def run(
        probe: Probe,
        *answers: Answer,
        kind: str = "openai",
        name: str = "local",
        plugins: dict[str, dict[str, Any]] | None = None,
        **settings: Any,
    ) -> ProbeResult:
        fake_upstream.script(*answers)
        settings.setdefault("model", "test-model")
        base_url = settings.pop("base_url", fake_upstream)
        builder = (
            ConfigBuilder()
            .provider(name, base_url, kind=kind, **settings)
            .profile("default", [name])
        )
        for plugin, plugin_settings in (plugins or {}).items():
            builder.plugin(plugin, **plugin_settings)
        config = builder.build()
        [report] = asyncio.run(run_doctor(config, load_plugins(config), config.providers, [probe]))
        [result] = report.results
        return result

    run.upstream = fake_upstream  # type: ignore[attr-defined]
    return run
