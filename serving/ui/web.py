"""The frame every workbench page stands in: the router, the signed-in user, rendering.

Every page resolves the signed-in user (:func:`current_user`: the session's key,
authenticated again, rate-limited like the API) and checks the permission the API checks
for the same read or write; every POST also checks the CSRF token (:func:`checked_post`).
Errors of the one hierarchy become a page (or, for htmx, a fragment) saying what happened,
with its status (:class:`UiRoute`). The pages themselves: :mod:`serving.ui.pages` (sign-in,
home, queues), :mod:`serving.ui.item_pages` (an item and its actions),
:mod:`serving.ui.kpi_pages` (the KPI dashboard).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute

from governance.access import QUEUE_OVERSEERS, Permission, Principal, require
from governance.policy import Policy
from serving.services import Services
from serving.ui import HTMX, Workbench
from serving.ui.auth import CSRF_FIELD, CSRF_HEADER, SESSION_COOKIE, clear_cookies, tokens_match
from stockpilot.errors import Forbidden, NotFound, StockPilotError, Unauthorized

QueueName = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9_-]*$")]
ItemId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Text = Annotated[str, Query(max_length=200)]


class SignInRequired(Exception):
    def __init__(self, why: str = "") -> None:
        super().__init__(why)
        self.why = why


class UiRoute(APIRoute):
    """Routes whose errors are pages: no JSON error bodies, no tracebacks for a user."""

    def get_route_handler(self) -> Callable[[Request], Any]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired as err:
                return to_login(request, err.why)
            except StockPilotError as err:
                return error_page(request, err.status_code, err.message)
            except RequestValidationError as err:
                fields = "; ".join(
                    f"{'.'.join(str(p) for p in e.get('loc', ())[1:])}: {e.get('msg', '')}"
                    for e in err.errors()[:5]
                )
                return error_page(request, 422, f"This request is not valid: {fields}")

        return guarded


router = APIRouter(prefix="/ui", include_in_schema=False, route_class=UiRoute)


@dataclass(frozen=True, slots=True)
class User:
    principal: Principal
    csrf: str

    @property
    def role(self) -> str:
        return self.principal.role.value

    def can(self, permission: Permission) -> bool:
        return self.principal.can(permission)


def workbench_of(request: Request) -> Workbench:
    return request.app.state.workbench


def services_of(request: Request) -> Services:
    return request.app.state.services


async def current_user(request: Request) -> User:
    wb = workbench_of(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    session = wb.sessions.get(cookie)
    if session is None:
        raise SignInRequired("your session has ended" if cookie else "")
    services = services_of(request)
    try:
        principal = services.keys.authenticate(services.reads, session.token)
    except Unauthorized:
        wb.sessions.drop(cookie)
        raise SignInRequired("your key was revoked or has expired") from None
    services.limiter.take(principal.key_id or principal.actor)
    return User(principal, session.csrf)


async def checked_post(request: Request, user: Annotated[User, Depends(current_user)]) -> User:
    """The signed-in user of a POST that carries the session's CSRF token (else 403)."""
    form = await request.form()
    given = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    if not tokens_match(user.csrf, given if isinstance(given, str) else None):
        raise Forbidden("this form did not carry a valid CSRF token: reload the page and retry")
    return user


UserDep = Annotated[User, Depends(current_user)]
PostUser = Annotated[User, Depends(checked_post)]


# --- rendering ------------------------------------------------------------------------


def readable_queues(user: User | None, policy: Policy) -> list[str]:
    if user is None or not user.can(Permission.queues_read):
        return []
    return [
        name
        for name, config in policy.queues.items()
        if user.principal.role in QUEUE_OVERSEERS or user.principal.role in config.roles
    ]


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    user: User | None = None,
    status: int = 200,
) -> HTMLResponse:
    wb = workbench_of(request)
    services = services_of(request)
    policy = services.policy.policy
    base = {
        "user": user,
        "htmx": HTMX,
        "nav_queues": readable_queues(user, policy) if policy else [],
        "csrf": user.csrf if user else "",
        "poll_seconds": wb.poll_seconds,
        "Permission": Permission,
    }
    response = wb.templates.TemplateResponse(
        request, template, {**base, **context}, status_code=status
    )
    _secure_headers(response)
    return response


def _secure_headers(response: Response) -> None:
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    wb = workbench_of(request)
    session = wb.sessions.get(request.cookies.get(SESSION_COOKIE))
    user = User(session.principal, session.csrf) if session else None
    template = "_notice.html" if is_htmx(request) else "error.html"
    titles = {403: "Not allowed", 404: "Not found", 409: "Already decided", 422: "Not valid"}
    return render(
        request,
        template,
        {
            "status": status,
            "title": titles.get(status, "Something went wrong"),
            "message": message,
            "kind": "error",
        },
        user=user,
        status=status,
    )


def to_login(request: Request, why: str) -> Response:
    target = "/ui/login" + (f"?{urlencode({'why': 'expired'})}" if why else "")
    if is_htmx(request):
        response = Response(status_code=200, headers={"HX-Redirect": target})
    else:
        response = RedirectResponse(target, status_code=303)
    if why:
        clear_cookies(response, request)
    return response


def form_text(value: Any) -> str:
    """A form field as text ("" when absent or a file)."""
    return value if isinstance(value, str) else ""


def require_queue(user: User, queue: str, policy: Policy) -> None:
    """The user may read ``queue`` (a queue of the policy their role works or oversees)."""
    require(user.principal, Permission.queues_read)
    if queue not in policy.queues:
        raise NotFound(f"queue {queue!r} is not defined in policy version {policy.version}")
    if queue not in readable_queues(user, policy):
        raise Forbidden(f"role {user.role!r} may not read queue {queue!r}")


def may_decide(user: User, queue: str, policy: Policy) -> bool:
    """Whether the user's role decides the items of ``queue``."""
    config = policy.queues.get(queue)
    return (
        config is not None
        and user.can(Permission.queues_decide)
        and user.principal.role in config.roles
    )
