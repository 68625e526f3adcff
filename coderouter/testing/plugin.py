"""The pytest plugin (registered under ``pytest11``): fixtures for tests of the router and of
plugins.
"""

from __future__ import annotations

import itertools
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pluggy
import pytest

from coderouter.config import Config
from coderouter.testing.agents import ClientInstallError, installed_clients
from coderouter.testing.llama import LlamaServer, ensure_llama_venv, ensure_model
from coderouter.testing.postgres_server import PostgresServer, ensure_postgres_server
from coderouter.testing.raw import RawUpstream
from coderouter.testing.redis_server import RedisServer, ensure_redis_server
from coderouter.testing.router import ConfigBuilder, RouterProcess
from coderouter.testing.upstream import FakeUpstream

REAL_BACKEND = "real_backend"
_DATABASES = itertools.count()

Server = TypeVar("Server", FakeUpstream, RawUpstream)

# --- pytest hooks ----------------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{REAL_BACKEND}: runs against a real llama.cpp server (the first run builds it; "
        f'skip with -m "not {REAL_BACKEND}")',
    )


def pytest_collection_finish(session: pytest.Session) -> None:
    """Install ``redis-server`` or ``postgresql`` and build the llama.cpp environment before the
    first test runs when a selected test needs them, so the install or build (minutes, once per
    machine) is not charged to one test's timeout."""
    names = {name for item in session.items for name in getattr(item, "fixturenames", ())}
    if "redis_server" in names:
        try:
            ensure_redis_server()
        except RuntimeError as exc:
            raise pytest.UsageError(f"the redis_server fixture needs redis-server: {exc}") from exc
    if names & {"postgres_server", "postgres_dsn"}:
        try:
            ensure_postgres_server()
        except RuntimeError as exc:
            raise pytest.UsageError(f"the postgres_server fixture needs postgresql: {exc}") from exc
    if not any(item.get_closest_marker(REAL_BACKEND) for item in session.items):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line("real_backend tests: preparing the llama.cpp server (cached) ...")
    ensure_model(ensure_llama_venv())


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
    yield from _closed_after(FakeUpstream)


@pytest.fixture
def raw_upstreams() -> Iterator[Any]:
    """A factory: ``raw_upstreams(script)`` starts a :class:`RawUpstream`; all close after the
    test."""
    yield from _closed_after(RawUpstream)


def _closed_after(start: Callable[..., Server]) -> Iterator[Callable[..., Server]]:
    """Yields ``start`` as a factory fixture: every server it starts is closed after the
    test."""
    servers: list[Server] = []

    def tracked(*args: Any, **kwargs: Any) -> Server:
        server = start(*args, **kwargs)
        servers.append(server)
        return server

    yield tracked
    for server in servers:
        server.close()


@pytest.fixture(scope="session")
def client_bin() -> Path:
    """The folder holding the real ``claude`` and ``codex``, installed with npm when missing
    (see :mod:`coderouter.testing.agents`; run them with its ``client_env``)."""
    try:
        return installed_clients()
    except ClientInstallError as err:
        pytest.fail(str(err))


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
def redis_server() -> Iterator[RedisServer]:
    """A real ``redis-server`` on a free loopback port (apt-get installs it when missing),
    stopped and its temp dir removed after the test."""
    try:
        server = RedisServer()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield server
    server.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server on a free loopback port (apt-get installs it when missing),
    one per test session (``initdb`` takes seconds); tests that stop it start it again."""
    try:
        server = PostgresServer()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield server
    server.close()


@pytest.fixture
def postgres_dsn(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> str:
    """The DSN of a new empty database on :func:`postgres_server`, one per test."""
    postgres_server.start()
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[-50:]
    name = f"{name}_{os.getpid()}_{next(_DATABASES)}"
    return postgres_server.create_database(name)


@pytest.fixture
def app_client() -> Any:
    """A factory: ``app_client(config, pm=None, transport=None, clock=...)`` returns a Falcon
    ``TestClient`` over a freshly built app (in process, lifespan included). Requests name
    ``localhost`` as their ``Host`` unless they pass ``host=`` (the router answers loopback
    names and ``server.allowed_hosts`` only)."""
    import falcon.testing

    from coderouter.app import create_app

    class LocalClient(falcon.testing.TestClient):
        def simulate_request(self, *args: Any, **kwargs: Any) -> falcon.testing.Result:
            kwargs.setdefault("host", "localhost")
            return super().simulate_request(*args, **kwargs)

    def build(config: Config, **kwargs: Any) -> falcon.testing.TestClient:
        return LocalClient(create_app(config, **kwargs))

    return build


@pytest.fixture(scope="session")
def llama_server() -> Iterator[Any]:
    """A factory: ``llama_server(n_ctx=2048)`` returns a running :class:`LlamaServer` (real
    llama.cpp serving Gemma 3 270M), one per ``n_ctx`` for the whole session."""
    servers: dict[int, LlamaServer] = {}

    def get(n_ctx: int = 2048) -> LlamaServer:
        found = servers.get(n_ctx)
        if found is None:
            venv = ensure_llama_venv()
            found = servers[n_ctx] = LlamaServer(venv, ensure_model(venv), n_ctx=n_ctx)
        return found

    yield get
    for server in servers.values():
        server.stop()
