"""Workbench sign-in: an API key exchanged for a session cookie, and CSRF tokens.

A session is server-side (in this process, like the live state): the cookie carries a
random id whose sha256 indexes the session, never the key. The session keeps the key and
authenticates it again on every request through the same cache the API uses, so a revoked
or expired key ends its sessions within that cache's few seconds, and the role is the
key's role at that moment. A session expires after ``ui_session_hours`` and never outlives
its key; logging out drops it; a restart of the service signs everyone out.

Every POST carries the session's CSRF token (a form field, or the ``X-CSRF-Token`` header
that htmx sends); a POST without the right one is a 403. The sign-in form, made before any
session exists, is protected by a double-submit token (a cookie and a field that match).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import Request
from fastapi.responses import Response

from governance.access import Principal

SESSION_COOKIE = "sp_session"
LOGIN_COOKIE = "sp_login"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
COOKIE_PATH = "/ui"
MAX_SESSIONS = 10_000


@dataclass(frozen=True, slots=True)
class WebSession:
    token: str  # the API key, authenticated again on every request
    principal: Principal
    csrf: str
    expires_at: float  # time.time()


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


class SessionStore:
    """Sessions by the sha256 of their cookie value; thread-safe (pages run in threads)."""

    def __init__(self, lifetime_seconds: float) -> None:
        self.lifetime = lifetime_seconds
        self._sessions: dict[str, WebSession] = {}
        self._lock = threading.Lock()

    def create(
        self, token: str, principal: Principal, key_expires_at: datetime | None
    ) -> tuple[str, WebSession]:
        now = time.time()
        expires = now + self.lifetime
        if key_expires_at is not None:
            expires = min(expires, key_expires_at.astimezone(UTC).timestamp())
        cookie = secrets.token_urlsafe(32)
        session = WebSession(token, principal, secrets.token_urlsafe(32), expires)
        with self._lock:
            if len(self._sessions) >= MAX_SESSIONS:
                self._purge(now)
            self._sessions[_digest(cookie)] = session
        return cookie, session

    def get(self, cookie: str | None) -> WebSession | None:
        if not cookie:
            return None
        digest = _digest(cookie)
        with self._lock:
            session = self._sessions.get(digest)
            if session is not None and session.expires_at <= time.time():
                del self._sessions[digest]
                return None
        return session

    def drop(self, cookie: str | None) -> None:
        if cookie:
            with self._lock:
                self._sessions.pop(_digest(cookie), None)

    def _purge(self, now: float) -> None:
        for digest in [d for d, s in self._sessions.items() if s.expires_at <= now]:
            del self._sessions[digest]
        while len(self._sessions) >= MAX_SESSIONS:  # still full: the oldest go first
            self._sessions.pop(next(iter(self._sessions)))


def secure_request(request: Request) -> bool:
    """Behind HTTPS (directly, or a proxy uvicorn trusts for X-Forwarded-Proto)."""
    return request.url.scheme == "https"


def set_session_cookie(response: Response, request: Request, cookie: str, seconds: float) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=max(1, int(seconds)),
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=secure_request(request),
    )


def set_login_cookie(response: Response, request: Request, value: str) -> None:
    response.set_cookie(
        LOGIN_COOKIE,
        value,
        max_age=3600,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=secure_request(request),
    )


def clear_cookies(response: Response, request: Request) -> None:
    for name in (SESSION_COOKIE, LOGIN_COOKIE):
        response.delete_cookie(
            name, path=COOKIE_PATH, httponly=True, samesite="strict", secure=secure_request(request)
        )


def tokens_match(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and secrets.compare_digest(expected, given)  # type: ignore[arg-type]
