"""Browser sign-in for the read pages when ingress keys are set.

A browser cannot add ``x-api-key`` to a page load, so ``/dashboard`` answers a key form to a
request without a key. The form posts the key back; a right key gets a cookie for each read
route (``/dashboard``, ``/metrics``, ``/metrics.json``), each scoped to its own ``Path``,
``HttpOnly`` and ``SameSite=Strict``. The model routes never accept it: a cookie a browser adds
by itself must not spend money.

The cookie holds no key: it is ``EXPIRES.MAC``, the MAC an HMAC-SHA256 of the expiry and the key
under a secret kept in the state dir (so every worker, and every restart, agrees on it). A
cookie is checked against every configured key with the ingress's constant-time comparison, so
removing a key signs out its browsers.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import logging
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, urlsplit

import falcon
import falcon.asgi

from coderouter.security import key_matches

__all__ = [
    "COOKIE_NAMES",
    "SESSION_S",
    "SIGNIN_PATH",
    "SIGNOUT_PATH",
    "DashboardSignIn",
    "load_secret",
]

log = logging.getLogger("coderouter.signin")

SIGNIN_PATH = "/dashboard"
SIGNOUT_PATH = "/dashboard/signout"
COOKIE_NAMES = {
    "/dashboard": "coderouter_dashboard",
    "/metrics": "coderouter_metrics",
    "/metrics.json": "coderouter_metrics_json",
}
"""The read routes a sign-in cookie opens, each with its own cookie (a cookie's ``Path``
``/metrics`` does not reach ``/metrics.json``)."""

SESSION_S = 12 * 3600
SECRET_FILE = "dashboard-signin.secret"
SECRET_BYTES = 32
MAX_FORM_BYTES = 4096
CookieSecure = Literal["auto", "always", "never"]

FORM_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>CodeRouter sign-in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font: 15px system-ui, sans-serif; background: #f6f7f9; color: #1d2330; }}
form {{ max-width: 22rem; margin: 12vh auto; padding: 1.5rem; background: #fff;
  border: 1px solid #d8dce3; border-radius: 8px; }}
h1 {{ font-size: 1.1rem; margin: 0 0 1rem; }}
input {{ box-sizing: border-box; width: 100%; padding: .5rem; margin: .4rem 0 1rem;
  font: inherit; }}
button {{ padding: .45rem 1rem; font: inherit; }}
.error {{ color: #b3261e; }}
</style></head>
<body data-signin="form">
<form method="post" action="{action}" id="signin">
<h1>CodeRouter dashboard</h1>
<p class="error" id="signin-error">{error}</p>
<label for="key">Router key</label>
<input type="password" id="key" name="key" autocomplete="current-password" required autofocus>
<button type="submit">Sign in</button>
</form>
</body></html>
"""
FORM_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
)


def load_secret(state_dir: Path) -> bytes:
    """The cookie secret shared by every worker using ``state_dir``: read from its file, or
    created there once (the first worker to link its file in wins, the others read that one).
    Without a usable state dir, a secret for this process only: sign-in then holds on the worker
    that answered it, so the warning says so."""
    path = state_dir / SECRET_FILE
    try:
        return _read_or_create(path)
    except OSError as exc:
        log.warning(
            "dashboard sign-in: cannot keep its secret in %s (%s); with several workers a "
            "browser signed in on one is refused by the others",
            path,
            exc,
        )
        return secrets.token_bytes(SECRET_BYTES)


def _read_or_create(path: Path) -> bytes:
    try:
        found = path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        draft = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_bytes(SECRET_BYTES))
        finally:
            os.close(fd)
        try:
            # A hard link fails when the name exists: no worker replaces another's secret.
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
        found = path.read_bytes()
    if len(found) < SECRET_BYTES:
        raise OSError(f"{path} holds {len(found)} bytes, fewer than {SECRET_BYTES}")
    return found


class DashboardSignIn:
    """The form, the cookies and their check, for :class:`~coderouter.resources.guard.
    IngressGuard` (which calls it only when ingress keys are set). ``keys`` are the ingress
    keys' SHA-256 digests (:class:`~coderouter.security.KeyRing`): a key stored only as its
    digest signs in too, and a cookie holds an HMAC of the digest."""

    def __init__(
        self,
        keys: list[bytes],
        secret: bytes,
        secure: CookieSecure = "auto",
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keys = keys
        self.secret = secret
        self.secure = secure
        self.clock = clock

    def _mac(self, expires: int, key: bytes) -> bytes:
        message = b"coderouter-dashboard:%d:" % expires + key
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest().encode()

    def cookie_value(self, key: bytes) -> str:
        expires = int(self.clock()) + SESSION_S
        return f"{expires}.{self._mac(expires, key).decode()}"

    def accepts(self, req: falcon.asgi.Request) -> bool:
        """Whether ``req`` is a read route carrying a valid, unexpired sign-in cookie."""
        name = COOKIE_NAMES.get(req.path)
        if name is None or req.method not in ("GET", "HEAD"):
            return False
        values = req.get_cookie_values(name) or []
        return any(self._valid(value) for value in values[:4])

    def _valid(self, value: str) -> bool:
        stamp, _, mac = value.partition(".")
        if not stamp.isdigit() or len(stamp) > 12 or int(stamp) <= self.clock():
            return False
        expected = [self._mac(int(stamp), key) for key in self.keys]
        return key_matches(mac.encode("latin-1", "replace"), expected)

    async def answer(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> bool:
        """Answer the sign-in routes themselves (the form, its post, sign-out); False for every
        other request, which the guard then refuses as it refuses any request without a key."""
        if req.path == SIGNOUT_PATH and req.method == "GET":
            self._sign_out(req, resp)
            return True
        if req.path != SIGNIN_PATH:
            return False
        if req.method in ("GET", "HEAD"):
            self._form(resp, falcon.HTTP_401, "")
            return True
        if req.method == "POST":
            await self._sign_in(req, resp)
            return True
        return False

    def _form(self, resp: falcon.asgi.Response, status: str, error: str) -> None:
        resp.status = status
        resp.content_type = "text/html; charset=utf-8"
        resp.text = FORM_PAGE.format(action=SIGNIN_PATH, error=html.escape(error))
        resp.cache_control = ["no-store"]
        resp.set_header("content-security-policy", FORM_POLICY)

    async def _sign_in(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        if not _same_origin(req):
            self._form(resp, falcon.HTTP_403, "sign-in must come from this router's own page")
            return
        body = await req.stream.read(MAX_FORM_BYTES + 1)
        if len(body) > MAX_FORM_BYTES:
            self._form(resp, falcon.HTTP_413, "the form is larger than a key")
            return
        try:
            fields = parse_qs(body.decode("latin-1"), max_num_fields=8)
        except ValueError:  # more fields than the form has
            self._form(resp, falcon.HTTP_400, "the form has fields it does not ask for")
            return
        key = (fields.get("key") or [""])[0].strip().encode("latin-1", "replace")
        digest = hashlib.sha256(key).digest()
        if not key or not key_matches(digest, self.keys):
            self._form(resp, falcon.HTTP_401, "wrong key")
            return
        value = self.cookie_value(digest)
        secure = self._secure(req)
        for path, name in COOKIE_NAMES.items():
            resp.set_cookie(
                name,
                value,
                max_age=SESSION_S,
                path=path,
                secure=secure,
                http_only=True,
                same_site="Strict",
            )
        resp.status = falcon.HTTP_303
        resp.location = SIGNIN_PATH
        resp.cache_control = ["no-store"]

    def _sign_out(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        for path, name in COOKIE_NAMES.items():
            resp.unset_cookie(name, path=path, same_site="Strict")
        resp.status = falcon.HTTP_303
        resp.location = SIGNIN_PATH
        resp.cache_control = ["no-store"]

    def _secure(self, req: falcon.asgi.Request) -> bool:
        """``Secure`` on the cookies: ``auto`` sets it when the browser reached the router over
        TLS, directly or through a proxy that says so (``Forwarded`` / ``X-Forwarded-Proto``);
        a ``Secure`` cookie over plain HTTP would be dropped, and sign-in would loop."""
        if self.secure == "always":
            return True
        if self.secure == "never":
            return False
        return "https" in (req.scheme, req.forwarded_scheme)


def _same_origin(req: falcon.asgi.Request) -> bool:
    """A form post names its page's origin; one from another site is refused (a page elsewhere
    must not sign the browser in with a key of its choosing). Posts without ``Origin`` come
    from no browser that would attach the cookie cross-site."""
    origin = req.get_header("origin")
    if origin is None:
        return True
    host = (req.get_header("host") or "").lower()
    try:
        return urlsplit(origin).netloc.lower() == host
    except ValueError:  # not a URL (an unclosed IPv6 bracket): no page of this router's
        return False
