"""The dashboard page in real headless Chromium, against a running router with traffic.

The page records script errors into ``<pre id="js-errors">`` and sets ``data-ready`` on
``<body>`` once it has rendered a document (``data-first-paint="inline"`` when that was the one
the server put in the page). The screenshot is saved in the test's tmp dir.
"""

from __future__ import annotations

import json
import re
import subprocess
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from playwright.sync_api import sync_playwright

from coderouter.testing import Answer, ConfigBuilder, FakeUpstream, chat_stream
from coderouter.testing.debian import INSTALL_TIMEOUT_S, ensure_installed

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium tries to reach Google's hosts, which this
# machine's closed network refuses.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium, installed with apt-get when it is missing."""
    try:
        return ensure_installed(CHROMIUM, "chromium")
    except RuntimeError as exc:
        pytest.fail(f"for the dashboard tests: {exc}")


def run_chromium(binary: str, profile: Path, url: str, *mode: str) -> str:
    command = [
        binary,
        "--headless",
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        "--virtual-time-budget=5000",
        *mode,
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


class Dom(HTMLParser):
    """Elements with their attributes and text, enough to check what the page rendered."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.elements: list[dict[str, Any]] = []
        self._open: list[dict[str, Any]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = {"tag": tag, "attrs": dict(attrs), "text": ""}
        self.elements.append(element)
        if tag not in ("meta", "br", "img", "input", "link", "polyline", "polygon", "rect"):
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            element = self._open.pop()
            if element["tag"] == tag:
                break

    def handle_data(self, data: str) -> None:
        for element in self._open:
            element["text"] += data

    def find(self, tag: str | None = None, **attrs: str) -> list[dict[str, Any]]:
        return [
            e
            for e in self.elements
            if (tag is None or e["tag"] == tag)
            and all(e["attrs"].get(k.replace("_", "-")) == v for k, v in attrs.items())
        ]

    def by_id(self, element_id: str) -> dict[str, Any]:
        found = [e for e in self.elements if e["attrs"].get("id") == element_id]
        assert len(found) == 1, element_id
        return found[0]


@pytest.mark.timeout(INSTALL_TIMEOUT_S + 300)
def test_dashboard_renders_providers_and_events_without_script_errors(
    chromium: str, router_process: Any, fake_upstreams: Any, tmp_path: Path
) -> None:
    cloud, flaky, local = fake_upstreams(), fake_upstreams(), fake_upstreams()
    # Three failures in a row: backend_health calls flaky degraded, then healthy again.
    flaky.script(*[Answer.error(500, "boom")] * 3)
    builder = (
        ConfigBuilder()
        .provider("cloud", cloud, paid=True)
        .provider("flaky", flaky)
        .provider("local", local)
        .profile("default", ["cloud", "flaky", "local"])
        .router(state_dir=str(tmp_path / "state"))
        .plugin("backend_health")
        .plugin("metrics")
    )
    proc = router_process(builder, workers=2)
    client = openai.OpenAI(base_url=proc.url + "/v1", api_key="k", max_retries=0)
    for _ in range(4):
        client.chat.completions.create(model="m", messages=MESSAGES)
    flaky.script(Answer.sse(chat_stream(["<b>not", " markup</b>"])))
    list(client.chat.completions.create(model="m", messages=MESSAGES, stream=True))
    assert len(proc.wait_for_log(5)) == 5

    assert httpx.get(proc.url + "/").json()["pages"] == {"dashboard": "/dashboard"}
    front = httpx.get(proc.url + "/", headers={"accept": "text/html"})
    assert front.headers["content-type"].startswith("text/html")
    assert '<a href="/dashboard">dashboard</a>' in front.text

    # The first document is in the page itself: the first paint has the numbers.
    page = httpx.get(proc.url + "/dashboard").text
    inline = re.search(r'<script id="first-snapshot" type="application/json">(.*?)</script>', page)
    assert inline is not None
    first = json.loads(inline.group(1))
    assert [p["name"] for p in first["providers"]] == ["cloud", "flaky", "local"]
    assert "<b>" not in inline.group(1), "a reason could close the script element"

    dom = Dom(run_chromium(chromium, tmp_path / "profile", proc.url + "/dashboard", "--dump-dom"))
    assert dom.by_id("js-errors")["text"].strip() == ""
    assert dom.find("body", data_ready="1"), "the first refresh did not complete"
    assert dom.find("body", data_first_paint="inline")
    assert dom.by_id("status")["text"] == "live"
    rows = {e["attrs"]["data-provider"]: e for e in dom.find("tr") if "data-provider" in e["attrs"]}
    assert list(rows) == ["cloud", "flaky", "local"]
    assert "paid" in rows["cloud"]["text"] and "skipped" in rows["cloud"]["text"]
    assert rows["flaky"]["attrs"]["class"] == "serving"
    assert "2 ok, 3 failed" in rows["flaky"]["text"]
    assert "3 ok, 0 failed" in rows["local"]["text"]
    assert "none yet" in rows["cloud"]["text"]
    tags = {e["text"] for e in dom.find("span") if "data-tag" in e["attrs"]}
    assert "request · fallback" in tags and "guard · backend_health" in tags
    events = dom.find("li", data_event="request")
    assert len(events) == 5
    assert "flaky failed: HTTP 500" in " ".join(e["text"] for e in events)
    assert not dom.find("b"), "event text was rendered as markup"
    fallbacks = dom.by_id("gate-fallbacks")["text"]
    assert "flaky" in fallbacks and "HTTP 500" in fallbacks
    assert "paid provider; allow_paid is off" in dom.by_id("gate-skips")["text"]
    assert dom.find("polyline", **{"class": "line"})

    shot = tmp_path / "metrics-dashboard.png"
    run_chromium(
        chromium,
        tmp_path / "profile",
        proc.url + "/dashboard",
        f"--screenshot={shot}",
        "--window-size=1280,1400",
        "--hide-scrollbars",
    )
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


@pytest.mark.timeout(INSTALL_TIMEOUT_S + 300)
def test_script_errors_show_up_in_the_page(
    chromium: str, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    """The error trap the other test relies on: a document the page cannot render."""
    page = resources.files("coderouter_metrics").joinpath("dashboard.html").read_text()
    fake_upstream.script(
        Answer.sse([page], content_type="text/html; charset=utf-8"), path="/dashboard"
    )
    fake_upstream.script(Answer.json({"workers": "not a list"}), path="/metrics.json")
    dom = Dom(
        run_chromium(chromium, tmp_path / "profile", fake_upstream.url + "/dashboard", "--dump-dom")
    )
    assert "render failed" in dom.by_id("js-errors")["text"]
    assert not dom.find("body", data_ready="1")


@pytest.mark.timeout(INSTALL_TIMEOUT_S + 300)
def test_a_browser_signs_in_through_the_key_form_when_keys_are_set(
    chromium: str, router_process: Any, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    fake_upstream.default = Answer.sse(chat_stream(["hello"]))
    builder = (
        ConfigBuilder()
        .provider("local", fake_upstream)
        .profile("default", ["local"])
        .server(api_keys_env="CODEROUTER_TEST_KEYS")
        .router(state_dir=str(tmp_path / "state"))
        .plugin("metrics")
    )
    proc = router_process(builder, workers=2, env={"CODEROUTER_TEST_KEYS": "k-browser"})
    client = openai.OpenAI(base_url=proc.url + "/v1", api_key="k-browser", max_retries=0)
    list(client.chat.completions.create(model="m", messages=MESSAGES, stream=True))

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        context = browser.new_context(viewport={"width": 1280, "height": 1400})
        page = context.new_page()
        page.goto(proc.url + "/dashboard")
        page.wait_for_selector("body[data-signin='form']")
        form_shot = page.screenshot(path=tmp_path / "dashboard-signin.png")
        assert form_shot[:8] == b"\x89PNG\r\n\x1a\n"

        page.fill("#key", "wrong")
        page.click("#signin button[type=submit]")
        page.wait_for_function(
            "document.getElementById('signin-error').textContent === 'wrong key'"
        )
        assert context.cookies() == []

        page.fill("#key", "k-browser")
        page.click("#signin button[type=submit]")
        page.wait_for_selector("body[data-ready='1']")
        assert page.text_content("#js-errors") == ""
        assert page.evaluate("location.pathname") == "/dashboard"
        # The page's own poll of metrics.json went through with the cookie too.
        page.wait_for_function("document.getElementById('status').textContent === 'live'")
        assert page.evaluate("document.cookie") == "", "HttpOnly: no script reads the cookie"
        cookies = {c["path"]: c for c in context.cookies()}
        assert set(cookies) == {"/dashboard", "/metrics", "/metrics.json"}
        assert all(c["httpOnly"] and c["sameSite"] == "Strict" for c in cookies.values())
        assert all("k-browser" not in c["value"] for c in cookies.values())
        assert page.is_visible("#signout")

        shot = page.screenshot(path=tmp_path / "dashboard-signed-in.png")
        assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 20_000

        page.click("#signout")
        page.wait_for_selector("body[data-signin='form']")
        assert context.cookies() == []
        browser.close()
