"""The sign-in cookie's expiry and the secret every worker shares, with a fake clock; form
posts the router cannot read."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import falcon.asgi
import falcon.testing
import pytest

from coderouter.resources.signin import SESSION_S, DashboardSignIn, load_secret
from coderouter.testing import ConfigBuilder
from coderouter.testing.harness import FakeClock


def request(path: str, cookie: str) -> falcon.asgi.Request:
    return falcon.testing.create_asgi_req(path=path, headers={"cookie": cookie})


def test_a_cookie_is_refused_once_its_session_is_over() -> None:
    clock = FakeClock(1_000_000.0)
    signin = DashboardSignIn([b"k1", b"k2"], b"s" * 32, clock=clock)
    value = signin.cookie_value(b"k2")
    assert signin.accepts(request("/metrics.json", f"coderouter_metrics_json={value}"))
    assert not signin.accepts(request("/metrics.json", f"coderouter_metrics={value}"))
    clock.advance(SESSION_S - 1)
    assert signin.accepts(request("/dashboard", f"coderouter_dashboard={value}"))
    clock.advance(1)
    assert not signin.accepts(request("/dashboard", f"coderouter_dashboard={value}"))


def test_removing_a_key_or_changing_the_secret_refuses_its_cookies() -> None:
    value = DashboardSignIn([b"k1", b"k2"], b"s" * 32).cookie_value(b"k2")
    cookie = f"coderouter_dashboard={value}"
    assert DashboardSignIn([b"k2"], b"s" * 32).accepts(request("/dashboard", cookie))
    assert not DashboardSignIn([b"k1"], b"s" * 32).accepts(request("/dashboard", cookie))
    assert not DashboardSignIn([b"k2"], b"t" * 32).accepts(request("/dashboard", cookie))


def test_the_secret_is_made_once_per_state_dir(tmp_path: Path) -> None:
    first = load_secret(tmp_path / "state")
    assert load_secret(tmp_path / "state") == first
    assert len(first) == 32
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    # No usable state dir: a secret of this process, a new one each time.
    assert load_secret(blocked) != load_secret(blocked)


def signin_app(app_client: Any, tmp_path: Path) -> Any:
    config = (
        ConfigBuilder()
        .provider("a", "http://127.0.0.1:9/v1")
        .profile("default", ["a"])
        .server(keys=[{"name": "alice", "sha256": hashlib.sha256(b"alice-key").hexdigest()}])
        .router(state_dir=str(tmp_path), log_requests=False)
        .build()
    )
    return app_client(config)


FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({}, "&".join(f"f{i}=x" for i in range(20)) + "&key=alice-key", 400),
        ({"origin": "http://[::1"}, "key=alice-key", 403),
    ],
)
def test_a_form_post_the_router_cannot_read_is_refused_with_the_form(
    app_client: Any, tmp_path: Path, headers: dict[str, str], body: str, status: int
) -> None:
    result = signin_app(app_client, tmp_path).simulate_post(
        "/dashboard", headers={**FORM, **headers}, body=body
    )
    assert result.status_code == status
    assert 'id="signin"' in result.text
    assert "set-cookie" not in result.headers
