"""Browser sign-in on `coderouter serve` with ingress keys: the key form on /dashboard, the
cookie it sets (HttpOnly, SameSite=Strict, one per read route, no key inside), accepted on the
read routes by every worker and refused on the model routes."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import httpx
import pytest

from coderouter.testing import Answer, ConfigBuilder, FakeUpstream, chat_completion

KEY = "k-dashboard-secret"
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
READ_ROUTES = {
    "/dashboard": "coderouter_dashboard",
    "/metrics": "coderouter_metrics",
    "/metrics.json": "coderouter_metrics_json",
}


@pytest.fixture
def router(router_process: Any, fake_upstream: FakeUpstream, tmp_path: Path) -> Any:
    fake_upstream.default = Answer.json(chat_completion("hello"))
    built = (
        ConfigBuilder()
        .provider("local", fake_upstream, model="qwen")
        .profile("default", ["local"])
        .server(api_keys_env="CODEROUTER_TEST_KEYS")
        .router(state_dir=str(tmp_path / "state"))
        .plugin("metrics")
    )
    return router_process(built, workers=2, env={"CODEROUTER_TEST_KEYS": f"other,{KEY}"})


def sign_in(router: Any, key: str, **headers: str) -> httpx.Response:
    return httpx.post(
        router.url + "/dashboard",
        data={"key": key},
        headers={"origin": router.url, **headers},
    )


def cookies_of(answer: httpx.Response) -> dict[str, Any]:
    jar: dict[str, Any] = {}
    for header in answer.headers.get_list("set-cookie"):
        parsed: SimpleCookie = SimpleCookie()
        parsed.load(header)
        jar.update(parsed)
    return jar


def test_the_form_is_shown_and_a_wrong_key_is_refused(router: Any) -> None:
    form = httpx.get(router.url + "/dashboard")
    assert form.status_code == 401
    assert form.headers["content-type"].startswith("text/html")
    assert '<form method="post" action="/dashboard"' in form.text
    assert 'name="key"' in form.text and "first-snapshot" not in form.text

    wrong = sign_in(router, "not-the-key")
    assert wrong.status_code == 401
    assert "wrong key" in wrong.text
    assert not wrong.headers.get_list("set-cookie")

    elsewhere = sign_in(router, KEY, origin="http://evil.example")
    assert elsewhere.status_code == 403
    assert not elsewhere.headers.get_list("set-cookie")


def test_the_right_key_sets_scoped_http_only_cookies_without_the_key(
    router: Any, tmp_path: Path
) -> None:
    answer = sign_in(router, KEY)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/dashboard"
    jar = cookies_of(answer)
    assert set(jar) == set(READ_ROUTES.values())
    for path, name in READ_ROUTES.items():
        morsel = jar[name]
        assert morsel["path"] == path
        assert morsel["httponly"] is True
        assert morsel["samesite"] == "Strict"
        assert morsel["secure"] == "", "plain HTTP: a Secure cookie would never come back"
        assert KEY not in morsel.value and "other" not in morsel.value
    secret = tmp_path / "state" / "dashboard-signin.secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600

    behind_tls = cookies_of(sign_in(router, KEY, **{"x-forwarded-proto": "https"}))
    assert all(m["secure"] is True for m in behind_tls.values())


def test_the_cookie_opens_the_read_routes_on_every_worker_and_never_the_model_routes(
    router: Any, fake_upstream: FakeUpstream
) -> None:
    jar = cookies_of(sign_in(router, KEY))
    workers = set()
    for _ in range(30):
        page = httpx.get(
            router.url + "/dashboard",
            cookies={"coderouter_dashboard": jar["coderouter_dashboard"].value},
        )
        assert page.status_code == 200, page.text[:200]
        assert 'id="first-snapshot"' in page.text
        assert '<a id="signout" href="/dashboard/signout">' in page.text
        workers.add(page.headers["x-coderouter-worker"])
    assert len(workers) == 2, "the secret in the state dir is every worker's"

    document = httpx.get(
        router.url + "/metrics.json",
        cookies={"coderouter_metrics_json": jar["coderouter_metrics_json"].value},
    )
    assert document.status_code == 200 and "summary" in document.json()
    scrape = httpx.get(
        router.url + "/metrics", cookies={"coderouter_metrics": jar["coderouter_metrics"].value}
    )
    assert scrape.status_code == 200 and "coderouter_" in scrape.text

    every_cookie = {name: morsel.value for name, morsel in jar.items()}
    for path in ("/v1/chat/completions", "/v1/messages", "/v1/responses"):
        refused = httpx.post(router.url + path, json=CHAT, cookies=every_cookie)
        assert refused.status_code == 401, path
    assert fake_upstream.requests == []
    # Each cookie opens its own route only, and a changed one opens none.
    wrong_route = httpx.get(
        router.url + "/metrics.json",
        cookies={"coderouter_dashboard": jar["coderouter_dashboard"].value},
    )
    assert wrong_route.status_code == 401
    stamp, _, mac = jar["coderouter_metrics_json"].value.partition(".")
    flipped = mac[:-1] + ("1" if mac.endswith("0") else "0")
    for forged in (f"{int(stamp) + 1}.{mac}", f"{stamp}.{flipped}", mac):
        denied = httpx.get(
            router.url + "/metrics.json", cookies={"coderouter_metrics_json": forged}
        )
        assert denied.status_code == 401, forged


def test_sign_out_expires_every_cookie(router: Any) -> None:
    answer = httpx.get(router.url + "/dashboard/signout")
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard"
    jar = cookies_of(answer)
    assert set(jar) == set(READ_ROUTES.values())
    now = datetime.now(UTC)
    assert all(m.value == "" and parsedate_to_datetime(m["expires"]) <= now for m in jar.values())
    assert {m["path"] for m in jar.values()} == set(READ_ROUTES)
