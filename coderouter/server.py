"""``coderouter serve``: gunicorn's native ASGI worker running the Falcon app."""

from __future__ import annotations

import errno
import socket
import sys
from typing import Any

from gunicorn.app.base import BaseApplication

from coderouter.config import Config
from coderouter.security import require_safe_exposure

__all__ = ["port_problem", "serve", "startup_line"]


def startup_line(config: Config, host: str, port: int, workers: int) -> str:
    profiles = ", ".join(
        f"{name} ({' -> '.join(p.providers)})" for name, p in config.profiles.items()
    )
    plugins = ", ".join(config.plugins.enabled) or "none"
    source = config.source.strip("<>")
    return (
        f"coderouter listening on http://{host}:{port} · config: {source} · {workers} worker"
        f"{'s' if workers != 1 else ''} · profiles: {profiles} · plugins: {plugins}"
    )


def port_problem(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be bound, in one line, or ``None``. Gunicorn would otherwise
    retry five times and print a page of errors."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # The same option gunicorn sets, so a port in TIME_WAIT is not reported as taken.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (
                    f"error: port {port} on {host} is already in use (another coderouter?); "
                    f"stop it or choose another port with --port"
                )
            return f"error: cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


class _Application(BaseApplication):  # type: ignore[misc]
    def __init__(self, config: Config, options: dict[str, Any]) -> None:
        self.router_config = config
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from coderouter.app import create_app
        from coderouter.disconnect import watch_disconnects

        return watch_disconnects(create_app(self.router_config))


def serve(
    config: Config, *, host: str | None = None, port: int | None = None, workers: int | None = None
) -> int:
    host = host or config.server.host
    port = port if port is not None else config.server.port
    workers = workers or config.server.workers
    require_safe_exposure(config, host)
    problem = port_problem(host, port)
    if problem is not None:
        print(problem, file=sys.stderr)
        return 1
    line = startup_line(config, host, port, workers)

    def when_ready(server: Any) -> None:
        print(line, file=sys.stderr, flush=True)

    options = {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": workers,
        "worker_class": "coderouter.worker.RouterWorker",
        "graceful_timeout": max(1, round(config.server.graceful_timeout_s)),
        "timeout": 120,
        "keepalive": 5,
        "loglevel": "warning",
        "accesslog": None,
        "errorlog": "-",
        "proc_name": "coderouter",
        "when_ready": when_ready,
        "asgi_lifespan": "on",
    }
    _Application(config, options).run()
    return 0
