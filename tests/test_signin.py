"""The sign-in cookie's expiry and the secret every worker shares, with a fake clock."""

from __future__ import annotations

from pathlib import Path

import falcon.asgi
import falcon.testing

from coderouter.resources.signin import SESSION_S, DashboardSignIn, load_secret
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
