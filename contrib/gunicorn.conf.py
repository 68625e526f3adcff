"""gunicorn settings for running CodeRouter's ASGI app directly.

    CODEROUTER_CONFIG=~/.config/coderouter/coderouter.toml gunicorn -c contrib/gunicorn.conf.py

This is what ``coderouter serve`` does programmatically (coderouter/server.py), written out as
a gunicorn config file for operators who manage gunicorn themselves: under systemd with their
own flags, behind a socket-activated listener, or with gunicorn's own tooling. The values come
from the same TOML (``[server]``) so both ways of starting agree; edit here only what you want
to differ.

The app is ``coderouter.asgi:app``, which builds the Falcon app from ``load_config()``: the
file named by ``$CODEROUTER_CONFIG``, else ``./coderouter.toml``, else
``~/.config/coderouter/coderouter.toml``, else the built-in default.
"""

from coderouter.config import load_config
from coderouter.security import require_safe_exposure
from coderouter.server import startup_line

_config = load_config()
_host = _config.server.host
_port = _config.server.port
# The same refusal as `coderouter serve`: no listening beyond loopback without ingress keys
# (or server.allow_unauthenticated = true).
require_safe_exposure(_config, _host)

# The ASGI app gunicorn loads in each worker (so no app argument is needed on the command line).
wsgi_app = "coderouter.asgi:app"

# gunicorn's native asyncio ASGI worker with CodeRouter's deadlines on slow clients and its cap
# on open connections (server.header_timeout_s, server.body_timeout_s, server.max_connections;
# coderouter/worker.py). It uses uvloop when it is installed (asgi_loop = "auto"); CodeRouter
# depends on uvloop on every platform but Windows.
worker_class = "coderouter.worker.RouterWorker"
asgi_loop = "auto"
# Run the app's lifespan (startup/shutdown): it opens the upstream HTTP client and runs every
# plugin's startup hook. "on" makes a failed startup stop gunicorn instead of serving traffic.
asgi_lifespan = "on"

# Where to listen. server.host defaults to 127.0.0.1: another address needs
# server.api_keys_env (ingress keys) or, behind an authenticating proxy,
# server.allow_unauthenticated = true.
bind = [f"[{_host}]:{_port}" if ":" in _host else f"{_host}:{_port}"]

# One worker holds hundreds of concurrent streams (the work is I/O-bound; see
# docs/performance.md). More workers mean more CPU for many non-stream requests, but each has
# its own in-memory plugin state (health, tool-loop guard); budgets and spend are shared through
# the SQLite ledger.
workers = _config.server.workers
# (worker_connections is not a cap for gunicorn's asgi worker; server.max_connections is, per
# worker. Each connection holds a file descriptor and each stream two: keep `ulimit -n` above
# twice server.max_connections.)

# On SIGTERM, in-flight streams get this long to finish before workers are stopped.
graceful_timeout = max(1, round(_config.server.graceful_timeout_s))
# A worker that does not report for this long is restarted. Streams do not count against it
# (the asgi worker reports from its event loop), so it only catches a stuck loop.
timeout = 120
# Seconds an idle client connection is kept open between requests. Short, so that a restart
# is not held up by idle keep-alive connections; clients reconnect transparently.
keepalive = 5

# CodeRouter writes its own structured JSON request log to stderr (router.log_requests);
# gunicorn's access log would only repeat it.
accesslog = None
errorlog = "-"
loglevel = "warning"
proc_name = "coderouter"


def when_ready(server):
    """Print the same startup line as ``coderouter serve``."""
    import sys

    print(startup_line(_config, _host, _port, workers), file=sys.stderr, flush=True)
