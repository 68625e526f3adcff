"""The pytest plugin (registered under ``pytest11``): fixtures for tests of the router and of
plugins.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pluggy
import pytest

from coderouter.config import Config
from coderouter.testing.raw import RawUpstream, Script
from coderouter.testing.router import ConfigBuilder, RouterProcess
from coderouter.testing.upstream import Answer, FakeUpstream

# --- pytest fixtures -------------------------------------------------------------------------


@pytest.fixture
def fake_upstream() -> Iterator[FakeUpstream]:
    """One fake upstream server, closed after the test."""
    server = FakeUpstream()
    yield server
    server.close()


@pytest.fixture
def fake_upstreams() -> Iterator[Any]:
    """A factory: ``fake_upstreams()`` starts another fake upstream; all close after the
    test."""
    servers: list[FakeUpstream] = []

    def start(default: Answer | None = None) -> FakeUpstream:
        server = FakeUpstream(default)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def raw_upstreams() -> Iterator[Any]:
    """A factory: ``raw_upstreams(script)`` starts a :class:`RawUpstream`; all close after the
    test."""
    servers: list[RawUpstream] = []

    def start(script: Script | bytes | list[bytes]) -> RawUpstream:
        server = RawUpstream(script)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def config_builder() -> ConfigBuilder:
    return ConfigBuilder()


@pytest.fixture
def plugin_manager() -> pluggy.PluginManager:
    """A fresh plugin manager with the hook specs and core defaults, no plugins loaded."""
    from coderouter.plugins import new_plugin_manager

    return new_plugin_manager()


@pytest.fixture
def router_process(tmp_path: Path) -> Iterator[Any]:
    """A factory: ``router_process(builder_or_path, workers=1, env=None)`` starts
    ``coderouter serve``; every process is stopped after the test."""
    processes: list[RouterProcess] = []

    def start(config: ConfigBuilder | str | os.PathLike[str], **kwargs: Any) -> RouterProcess:
        path = config.write(tmp_path) if isinstance(config, ConfigBuilder) else config
        process = RouterProcess(path, **kwargs)
        processes.append(process)
        return process

    yield start
    for process in processes:
        process.stop(signal.SIGINT)


@pytest.fixture
def app_client() -> Any:
    """A factory: ``app_client(config, pm=None, transport=None, clock=...)`` returns a Falcon
    ``TestClient`` over a freshly built app (in process, lifespan included)."""
    import falcon.testing

    from coderouter.app import create_app

    def build(config: Config, **kwargs: Any) -> falcon.testing.TestClient:
        return falcon.testing.TestClient(create_app(config, **kwargs))

    return build
