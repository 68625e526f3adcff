"""The CodeRouter plugin API: every hook a plugin may implement.

A plugin is a class registered under the ``coderouter`` entry-point group and listed in
``[plugins] enabled``. It implements hooks by defining methods with the names below, decorated
with :data:`coderouter.hookimpl`. Hooks are synchronous and must not block: plugins that need
I/O start background tasks in :func:`startup` and keep in-memory views fresh.

When plugins load (before the server starts, and in ``coderouter check``) :func:`check_config`
runs in every plugin; each worker then runs :func:`register_routes` and :func:`startup`.

The request protocol, for every ingress (``/v1/chat/completions``, ``/v1/messages``,
``/v1/responses``), stream or not:

1. The ingress decodes the body into a :class:`~coderouter.types.RequestView`. Bad input is
   answered with 400 in the client's wire format; no hook runs.
2. The profile is chosen: body ``profile``, header ``X-CodeRouter-Profile``, a ``model`` that
   names a profile, header ``X-CodeRouter-Mode`` through ``[router.mode_aliases]``, then
   :func:`select_profile`, then ``[router] default_profile``.
3. :func:`prepare_request` runs in every plugin on a :class:`~coderouter.types.Draft`; any
   returned :class:`~coderouter.types.Reject` answers the client at once.
4. :func:`resolve_chain` builds the :class:`~coderouter.types.Chain` (the core default is the
   profile's providers); paid providers are skipped unless paid use is allowed.
5. :func:`filter_chain` runs in every plugin: skip, demote and reorder providers, with reasons.
6. For each provider left, in order: :func:`before_attempt` (may return ``Skip`` or
   ``Reject``), then, when some plugin implements it, the awaited :func:`admit_attempt` (the
   one hook that may wait on I/O; same answers), then the upstream call; the response or
   stream passes through the transforms from :func:`stream_transforms`; then
   :func:`after_attempt` on success or :func:`on_failure` on failure (an admitted attempt that
   ends otherwise gets :func:`release_attempt`). A retryable failure before the stream
   committed moves on to the next provider.
7. When the chain is exhausted the client gets 502 (or an error event in the stream) naming
   every provider and why it was skipped or how it failed.

Return rules: hooks marked *firstresult* stop at the first implementation returning something
other than ``None``. All other hooks run in every enabled plugin, in the order of
``[plugins] enabled``. Plugins do not use ``tryfirst``/``trylast``: config order is the order.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from coderouter.config import Config, ProviderConfig
    from coderouter.context import AppContext
    from coderouter.types import (
        Attempt,
        Capabilities,
        Chain,
        Draft,
        Reject,
        RequestView,
        Result,
        Skip,
        StreamTransform,
        UpstreamError,
    )

PROJECT = "coderouter"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def check_config(config: Config) -> None:
    """Check this plugin's settings against the whole config, once, when plugins load.

    Runs in every plugin, before the server starts and in ``coderouter check``. Raise
    :class:`~coderouter.config.ConfigError` naming the key path and the valid choices (for
    example a rule naming a profile that does not exist); the host stops with that message.
    """


@hookspec
def startup(app: AppContext) -> Awaitable[None] | None:
    """Once per worker process, after the app is built and before the first request.

    ``app`` gives the config, the shared ``httpx.AsyncClient`` and the event loop is running, so
    this is where background tasks start (``asyncio.get_running_loop().create_task``) and stores
    open. Runs in every plugin. An awaitable returned is awaited before the first request (a
    database to open); it bounds its own wait.
    """


@hookspec
def shutdown(app: AppContext) -> Awaitable[None] | None:
    """Once per worker process when it stops (after in-flight requests finish or time out).

    Stop background tasks and close stores here. Runs in every plugin. An awaitable returned is
    awaited before the worker exits (rows to flush); it bounds its own wait.
    """


@hookspec(firstresult=True)
def select_profile(request: RequestView) -> str | None:
    """Choose a profile for a request that did not name one.

    Called only when the body, headers and model did not select a profile. Return a profile
    name, or ``None`` to leave the decision to the next plugin and finally to
    ``[router] default_profile``. *firstresult*.

    Example: route every request whose ``model`` matches ``claude-haiku-.*`` to ``"small"``.
    """


@hookspec
def prepare_request(draft: Draft) -> Reject | None:
    """Inspect or edit the request before any provider is chosen.

    Runs in every plugin, in config order, editing ``draft`` in place (for example
    ``draft.add_system_note("...")``). Return a :class:`~coderouter.types.Reject` to answer the
    client without calling any upstream; the first ``Reject`` wins, later plugins still run.
    """


@hookspec(firstresult=True)
def resolve_chain(request: RequestView, profile: str) -> Chain | None:
    """Build the ordered provider chain for ``profile``.

    *firstresult*. The core default (``trylast``) returns the profile's ``providers`` list;
    implement this only to replace that list wholesale (use :func:`filter_chain` to adjust it).
    """


@hookspec
def filter_chain(request: RequestView, chain: Chain) -> None:
    """Skip, demote or reorder providers of this request's chain, in place.

    Runs in every plugin, in config order. Use ``chain.skip(name, reason, by=...)``,
    ``chain.demote(...)``, ``chain.move_back(...)`` or ``chain.prefer(predicate, reason)``; every
    change is recorded with its reason and shows up in the 502 summary, the
    ``x-coderouter-fallback`` header and the request log. Return value ignored.
    """


@hookspec(firstresult=True)
def before_attempt(attempt: Attempt) -> Skip | Reject | None:
    """Last check before ``attempt.provider`` is called.

    *firstresult*. Return :class:`~coderouter.types.Skip` to pass over this provider (the loop
    goes on with the next), :class:`~coderouter.types.Reject` to answer the client now, or
    ``None`` to go ahead. ``attempt.max_tokens`` may be set here to clamp the output budget.
    """


@hookspec
def admit_attempt(attempt: Attempt) -> Awaitable[Skip | Reject | None] | None:
    """Admit ``attempt`` with I/O it must wait for (a budget reservation in a shared store).

    Implement it as ``async def``. It runs after :func:`before_attempt` let the attempt go and
    only when some plugin implements it, so a host without one pays nothing. The router awaits
    the implementations one after another in config order; the first to return
    :class:`~coderouter.types.Skip` or :class:`~coderouter.types.Reject` decides as
    :func:`before_attempt` would and the rest are not called. The client waits meanwhile, so
    bound every wait. An attempt admitted here ends in :func:`after_attempt`,
    :func:`on_failure` or :func:`release_attempt`.
    """


@hookspec
def release_attempt(attempt: Attempt) -> None:
    """``attempt`` passed :func:`admit_attempt` but ends without :func:`after_attempt` or
    :func:`on_failure`: a later plugin's admission refused it, its body could not be sent, or
    the request was cancelled (the client left) while it was in flight.

    Runs in every plugin, for every such attempt, whether or not the plugin admitted it: free
    what the admission held (a plugin holding nothing for the attempt returns at once). It may
    also come after the attempt's :func:`after_attempt` or :func:`on_failure` when the request
    is cancelled just after them, so make it a no-op for what is already settled.
    """


@hookspec
def stream_transforms(attempt: Attempt) -> list[StreamTransform] | StreamTransform | None:
    """Return transforms for this attempt's response events (or ``None``).

    Runs in every plugin; the transforms of all plugins are chained in config order. A transform
    is a small synchronous object with ``feed(event) -> list[event]`` and ``flush() ->
    list[event]`` (see :class:`~coderouter.types.StreamTransform` and
    :mod:`coderouter.wire.model` for the events). Non-stream responses pass through the same
    transforms as one event sequence, so a transform is written once for both.
    """


@hookspec
def after_attempt(attempt: Attempt, result: Result) -> None:
    """Observe a successful attempt. For streams this runs at the end, with usage aggregated.

    Runs in every plugin. Observers may add ``attempt.response_headers`` (sent when the response
    has not started: always for non-stream responses) and ``attempt.log_fields`` (added to the
    request log line); they do not change the response.
    """


@hookspec
def on_failure(attempt: Attempt, error: UpstreamError) -> None:
    """Observe a failed attempt: connection error, timeout, error status, a stream cut or an
    error event, before or after the stream committed (``error.committed``).

    Runs in every plugin. Whether the chain moves on is decided by the host from
    ``error.retryable`` and the commit state, never by the hook.
    """


@hookspec(firstresult=True)
def capabilities_for(provider: ProviderConfig) -> Capabilities | None:
    """What ``provider``'s model can do (tools, vision, thinking, context size, ...).

    *firstresult*. Called on demand by other plugins and the CLI through
    ``pm.hook.capabilities_for(provider=...)``; ``None`` means unknown.
    """


@hookspec
def register_routes(app: Any, context: AppContext) -> None:
    """Add HTTP routes to the Falcon ASGI ``app`` (for example ``/metrics``).

    Runs in every plugin when the app is built. Routes under ``/v1/`` and ``/-/plugins`` belong
    to the host.
    """


@hookspec
def register_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add subcommands to the ``coderouter`` CLI.

    Runs in every installed-and-enabled plugin at CLI start. Each subparser must set
    ``func=callable(args, config, pm) -> int`` with ``set_defaults``.
    """


@hookspec
def doctor_probes() -> list[Any] | None:
    """Probes for ``coderouter doctor`` to run against every provider it checks.

    Runs in every plugin (the doctor's own probes come through it too); the lists are joined
    in config order, and a probe marked ``required`` runs first. A probe has ``name``,
    ``required``, ``estimated_tokens(context) -> int`` and ``async run(context) ->
    ProbeResult``, where ``context`` holds the provider, its resolved capabilities and a
    client that sends requests the way the router does (see ``coderouter_doctor.Probe``). The
    result's verdict is ``ok``, ``needs_tuning`` (with a config patch), ``unsupported``,
    ``auth_fail``, ``transport_error`` or ``skip``, with a one-line reason.
    """


@hookspec
def describe_state() -> dict[str, Any] | None:
    """A JSON-serialisable snapshot of this plugin's in-memory state (health table, cooldowns,
    counts), shown by ``GET /-/plugins`` and ``coderouter plugins --state``.

    Runs in every plugin; the host keys each answer by plugin name.
    """
