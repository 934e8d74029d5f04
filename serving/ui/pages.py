"""The workbench's pages and actions (``/ui/...``).

Every page resolves the signed-in user (:func:`current_user`: the session's key,
authenticated again, rate-limited like the API) and checks the permission the API checks
for the same read or write; every POST also checks the CSRF token. Errors of the one
hierarchy become a page (or, for htmx, a fragment) saying what happened, with its status;
a stale decision says who was first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute

from governance import queues
from governance.access import QUEUE_OVERSEERS, Permission, Principal, require
from governance.policy import Policy
from governance.workflow import Status
from serving.services import Services
from serving.ui import HTMX, Workbench, ranking
from serving.ui.auth import (
    CSRF_FIELD,
    CSRF_HEADER,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    clear_cookies,
    set_login_cookie,
    set_session_cookie,
    tokens_match,
)
from serving.ui.items import item_context
from stockpilot.errors import Conflict, Forbidden, InvalidInput, StockPilotError, Unauthorized

QueueName = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9_-]*$")]
ItemId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Text = Annotated[str, Query(max_length=200)]
DUE_SOON = timedelta(hours=1)


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
                return _to_login(request, err.why)
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


def _wb(request: Request) -> Workbench:
    return request.app.state.workbench


def _services(request: Request) -> Services:
    return request.app.state.services


async def current_user(request: Request) -> User:
    wb = _wb(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    session = wb.sessions.get(cookie)
    if session is None:
        raise SignInRequired("your session has ended" if cookie else "")
    services = _services(request)
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
    wb = _wb(request)
    services = _services(request)
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
    wb = _wb(request)
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


def _to_login(request: Request, why: str) -> Response:
    target = "/ui/login" + (f"?{urlencode({'why': 'expired'})}" if why else "")
    if is_htmx(request):
        response = Response(status_code=200, headers={"HX-Redirect": target})
    else:
        response = RedirectResponse(target, status_code=303)
    if why:
        clear_cookies(response, request)
    return response


# --- sign-in ---------------------------------------------------------------------------


@router.get("", include_in_schema=False)
@router.get("/", include_in_schema=False)
async def root(request: Request) -> Response:
    session = _wb(request).sessions.get(request.cookies.get(SESSION_COOKIE))
    return RedirectResponse("/ui/home" if session else "/ui/login", status_code=303)


def _login_form(request: Request, *, error: str = "", status: int = 200) -> HTMLResponse:
    import secrets

    token = secrets.token_urlsafe(32)
    why = request.query_params.get("why")
    notice = "Your session ended: sign in again." if why == "expired" and not error else ""
    response = render(
        request,
        "login.html",
        {"login_csrf": token, "error": error, "notice": notice},
        status=status,
    )
    set_login_cookie(response, request, token)
    return response


@router.get("/login")
async def login_page(request: Request) -> Response:
    return _login_form(request)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    if not tokens_match(request.cookies.get(LOGIN_COOKIE), _text(form.get(CSRF_FIELD))):
        raise Forbidden("the sign-in form expired or did not come from this site: reload it")
    token = _text(form.get("api_key")).strip()
    services = _services(request)
    try:
        principal, expires_at = services.reads.authenticate_until(token)
    except Unauthorized:
        return _login_form(
            request, error="That API key is not valid (unknown, revoked or expired).", status=401
        )
    services.limiter.take(principal.key_id or principal.actor)
    wb = _wb(request)
    cookie, web = wb.sessions.create(token, principal, expires_at)
    response = RedirectResponse("/ui/home", status_code=303)
    set_session_cookie(response, request, cookie, web.expires_at - datetime.now(UTC).timestamp())
    response.delete_cookie(LOGIN_COOKIE, path="/ui")
    return response


@router.post("/logout")
async def logout(request: Request, user: PostUser) -> Response:
    _wb(request).sessions.drop(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/ui/login", status_code=303)
    clear_cookies(response, request)
    return response


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


# --- home ------------------------------------------------------------------------------


@router.get("/home")
def home(request: Request, user: UserDep) -> HTMLResponse:
    services = _services(request)
    policy = services.policy.get()
    mine = readable_queues(user, policy)
    now = datetime.now(UTC)
    today = datetime.combine(now.date(), time(0), tzinfo=UTC)
    overview = services.reads.overview(
        mine, due_before=now + DUE_SOON, actor=user.principal.actor, decided_since=today
    )
    counts, due, decided = overview.pending_counts, overview.due, overview.decided
    decides = [
        q
        for q in mine
        if user.can(Permission.queues_decide) and user.principal.role in policy.queues[q].roles
    ]
    return render(
        request,
        "home.html",
        {
            "queues": [
                {
                    "name": q,
                    "count": counts.get(q, 0),
                    "description": policy.queues[q].description,
                    "sla_hours": policy.queues[q].sla_hours,
                    "decide": q in decides,
                }
                for q in mine
            ],
            "due": [
                {"item": i, "reference": ranking.reference(i), "hours_left": _hours(i.due_at, now)}
                for i in due
            ],
            "decided": decided,
            "now": now,
        },
        user=user,
    )


def _hours(due: datetime, now: datetime) -> float:
    due = due if due.tzinfo else due.replace(tzinfo=UTC)
    return (due - now).total_seconds() / 3600.0


# --- queues ----------------------------------------------------------------------------


def _require_queue(user: User, queue: str, policy: Policy) -> None:
    from stockpilot.errors import NotFound

    require(user.principal, Permission.queues_read)
    if queue not in policy.queues:
        raise NotFound(f"queue {queue!r} is not defined in policy version {policy.version}")
    if queue not in readable_queues(user, policy):
        raise Forbidden(f"role {user.role!r} may not read queue {queue!r}")


def _may_decide(user: User, queue: str, policy: Policy) -> bool:
    config = policy.queues.get(queue)
    return (
        config is not None
        and user.can(Permission.queues_decide)
        and user.principal.role in config.roles
    )


@router.get("/queues/{queue}")
def queue_page(
    request: Request,
    user: UserDep,
    queue: QueueName,
    q: Text = "",
    location: Text = "",
    customer: Text = "",
    driver: Text = "",
    band: Annotated[str, Query(pattern=r"^(|small|medium|large|huge)$")] = "",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    partial: bool = False,
) -> HTMLResponse:
    return queue_view(
        request,
        user,
        queue,
        ranking.Filters(q, location, customer, driver, band),
        page,
        partial=partial,
    )


def queue_view(
    request: Request,
    user: User,
    queue: str,
    filters: ranking.Filters,
    number: int,
    *,
    partial: bool = False,
    notice: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    services = _services(request)
    policy = services.policy.get()
    _require_queue(user, queue, policy)
    now = datetime.now(UTC)
    wb = _wb(request)
    paged = wb.queues.page(
        services.reads, queue, policy, wb.catalogue.tiers(), filters, number, now=now
    )
    approvers = services.reads.approvers([r.item for r in paged.rows])
    query = filters.active()
    context = {
        "queue": queue,
        "config": policy.queues[queue],
        "policy": policy,
        "filters": filters,
        "query": query,
        "page": paged,
        "total_pending": paged.pending,
        "choices": paged.choices,
        "bands": ranking.VALUE_BANDS,
        "approvers": approvers,
        "may_decide": _may_decide(user, queue, policy),
        "actor": user.principal.actor,
        "notice": notice,
        "now": now,
        "link": lambda **extra: f"/ui/queues/{queue}?{urlencode({**query, **extra})}",
        "poll_url": f"/ui/queues/{queue}?"
        + urlencode({**query, "page": paged.number, "partial": 1}),
    }
    template = "_queue_table.html" if partial else "queue.html"
    return render(request, template, context, user=user, status=status)


@router.post("/queues/{queue}/bulk-approve")
async def bulk_approve(request: Request, user: PostUser, queue: QueueName) -> HTMLResponse:
    """Approve the chosen items at once — only those the policy marks low-impact now."""
    from serving.routers.queues import decide_item

    services = _services(request)
    policy = services.policy.get()
    _require_queue(user, queue, policy)
    require(user.principal, Permission.queues_decide)
    form = await request.form()
    chosen: dict[str, int] = {}
    for value in form.getlist("item"):
        item_id, _, version = _text(value).partition(":")
        if item_id and version.isdigit():
            chosen[item_id] = int(version)
    if not chosen:
        raise InvalidInput("bulk approve: choose at least one item")
    if len(chosen) > ranking.PAGE_SIZE * 4:
        raise InvalidInput(f"bulk approve: at most {ranking.PAGE_SIZE * 4} items at once")
    now = datetime.now(UTC)
    items = [i for i in services.reads.pending_by_id(chosen) if i.queue == queue]
    ranked = {
        r.item.id: r
        for r in ranking.rank(items, policy.review, _wb(request).catalogue.tiers(), now)
    }
    done, refused = [], []
    for item_id, version in chosen.items():
        row = ranked.get(item_id)
        if row is None:
            refused.append((item_id, "no longer pending"))
            continue
        if not row.low_impact:
            refused.append(
                (
                    row.reference,
                    f"not low-impact (expected cost {row.priority.cost:,.0f} ≥ "
                    f"{policy.review.bulk_approve_below:,.0f}): decide it on its own page",
                )
            )
            continue
        try:
            await decide_item(
                services,
                user.principal,
                item_id,
                action="approve",
                reason="bulk_low_impact",
                expected_version=version,
            )
            done.append(row.reference)
        except (Conflict, Forbidden, InvalidInput) as err:
            refused.append((row.reference, err.message))
    notice = {
        "kind": "ok" if not refused else "warn",
        "title": f"Approved {len(done)} item(s)" + (f", {len(refused)} not" if refused else ""),
        "lines": [f"{ref}: {why}" for ref, why in refused],
    }
    return queue_view(request, user, queue, ranking.Filters(), 1, notice=notice)


# --- items -----------------------------------------------------------------------------


@router.get("/items/{item_id}")
def item_page(request: Request, user: UserDep, item_id: ItemId) -> HTMLResponse:
    done = request.query_params.get("done")
    notice = DONE.get(done) if done else None
    return _item_response(request, user, item_id, notice=notice)


DONE = {
    "approve": {"kind": "ok", "title": "Approved."},
    "approval": {"kind": "ok", "title": "Your approval is recorded; another approver is needed."},
    "reject": {"kind": "ok", "title": "Rejected."},
    "override": {"kind": "ok", "title": "Overridden."},
}


def _item_response(
    request: Request,
    user: User,
    item_id: str,
    *,
    notice: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    services = _services(request)
    policy = services.policy.get()
    context = item_context(services, _wb(request).catalogue, user.principal, item_id, policy)
    _require_queue(user, context["item"].queue, policy)
    context.update(
        may_decide=_may_decide(user, context["item"].queue, policy)
        and context["item"].status is Status.pending,
        notice=notice,
        actor=user.principal.actor,
        **(extra or {}),
    )
    return render(request, "item.html", context, user=user, status=status)


@router.post("/items/{item_id}/decision")
async def decide(request: Request, user: PostUser, item_id: ItemId) -> Response:
    from serving.routers.queues import decide_item

    services = _services(request)
    policy = services.policy.get()
    form = await request.form()
    action = _text(form.get("action"))
    if action not in ("approve", "reject", "override"):
        raise InvalidInput("action: choose approve, reject or override")
    code = _text(form.get("reason_code")).strip()
    comment = _text(form.get("comment")).strip()[:1500]
    codes = getattr(policy.review.reason_codes, action)
    if code and code not in codes:
        raise InvalidInput(f"reason_code: {code!r} is not one of {', '.join(codes)} ({action})")
    if action != "approve" and not code:
        raise InvalidInput(f"reason_code: choose why you {action} ({', '.join(codes)})")
    reason = ": ".join(part for part in (code, comment) if part) or None
    version = _text(form.get("expected_version"))
    expected = int(version) if version.isdigit() else None
    edited = _quantity(_text(form.get("edited_qty")), action)
    before = services.reads.item(item_id)
    _require_queue(user, before.queue, policy)
    if edited is not None:
        _check_order_quantity(services, before, edited)
    try:
        item = await decide_item(
            services,
            user.principal,
            item_id,
            action=action,
            reason=reason,
            edited_qty=edited,
            expected_version=expected,
        )
    except Conflict as err:
        return _stale(request, user, item_id, action, err)
    except (Forbidden, InvalidInput) as err:
        notice = {"kind": "error", "title": "Not applied", "lines": [err.message]}
        if is_htmx(request):
            return render(
                request,
                "_notice.html",
                {**notice, "message": err.message},
                user=user,
                status=err.status_code,
            )
        return _item_response(request, user, item_id, notice=notice, status=err.status_code)
    done = action if item.status is not Status.pending else "approval"
    if is_htmx(request):
        response = render(
            request,
            "_notice.html",
            {
                "kind": "ok",
                "title": DONE[done]["title"],
                "message": ranking.reference(before),
                "item_id": item_id,
            },
            user=user,
        )
        response.headers["HX-Trigger"] = "queue-changed"  # the table reloads at once
        return response
    return RedirectResponse(f"/ui/items/{item_id}?done={done}", status_code=303)


def _quantity(text: str, action: str) -> float | None:
    if not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        raise InvalidInput(f"edited_qty: {text[:50]!r} is not a number") from None
    if action != "approve":
        raise InvalidInput("edited_qty: only an approval edits the quantity")
    if not 0 < value <= 1e9:
        raise InvalidInput("edited_qty: must be a quantity above 0")
    return value


def _check_order_quantity(services: Services, item: queues.QueueItem, qty: float) -> None:
    """A planner's quantity must respect the suggestion's MOQ and order multiple."""
    from serving.ui.items import order_rules

    if item.kind != "replenishment":
        raise InvalidInput("edited_qty: only replenishment suggestions have a quantity to edit")
    moq, multiple = order_rules(services, item)
    problems = []
    if moq and qty < moq:
        problems.append(f"below the MOQ of {moq:g}")
    if multiple and multiple > 0 and abs(qty / multiple - round(qty / multiple)) > 1e-9:
        problems.append(f"not a multiple of the order multiple {multiple:g}")
    if problems:
        lower = max(moq or 0.0, multiple or 0.0)
        if multiple and multiple > 0:
            import math

            suggestion = max(math.ceil(max(qty, moq or 0.0) / multiple) * multiple, lower)
        else:
            suggestion = max(qty, moq or 0.0)
        raise InvalidInput(
            f"edited_qty {qty:g} is " + " and ".join(problems) + f": try {suggestion:g}"
        )


def _stale(request: Request, user: User, item_id: str, action: str, err: Conflict) -> Response:
    services = _services(request)
    now_item = services.reads.item(item_id)
    who = now_item.decided_by or ", ".join(now_item.approvers) or "someone else"
    lines = [
        f"Your {action} was not applied: this item changed since you opened it.",
        f"It is now {now_item.status.value} (version {now_item.version})"
        + (f", decided by {who}" if now_item.status is not Status.pending else "")
        + ".",
        err.message,
    ]
    notice = {"kind": "warn", "title": "Someone else was first", "lines": lines}
    if is_htmx(request):
        return render(
            request,
            "_notice.html",
            {**notice, "message": " ".join(lines[:2])},
            user=user,
            status=409,
        )
    return _item_response(request, user, item_id, notice=notice, status=409)


@router.post("/items/{item_id}/substitutes")
async def find_substitutes(request: Request, user: PostUser, item_id: ItemId) -> Response:
    """Substitutes for one short line of an order at risk, from live stock (sales)."""
    from serving.routers.substitutes import search_substitutes
    from serving.schemas.substitutes import SubstitutesIn
    from serving.ui.items import order_line

    services = _services(request)
    policy = services.policy.get()
    require(user.principal, Permission.substitutes_request)
    form = await request.form()
    line_no = _text(form.get("line_no"))
    item = services.reads.item(item_id)
    _require_queue(user, item.queue, policy)
    line, customer_id, promised = order_line(services, item, line_no)
    body = SubstitutesIn(
        customer_id=customer_id,
        item_id=str(line["item_id"]),
        qty=float(line["qty"]),
        location_id=str(line["location_id"]),
        unit_price=float(line["unit_price"]),
        need_by=date.fromisoformat(promised) if promised else None,
        order_id=ranking.reference(item) if item.kind == "order_risk" else None,
    )
    committed, _ = await search_substitutes(services, user.principal, body)
    found = orjson.loads(committed.content)
    return _item_response(request, user, item_id, extra={"found": found, "found_line": line_no})


@router.post("/recommendations/{recommendation_id}/feedback")
async def substitute_feedback(
    request: Request, user: PostUser, recommendation_id: ItemId
) -> Response:
    """Offer a substitute and record the customer's answer in one click (sales)."""
    from serving.routers.substitutes import record_feedback
    from serving.schemas.substitutes import FeedbackIn

    services = _services(request)
    require(user.principal, Permission.substitutes_feedback)
    form = await request.form()
    offered = _text(form.get("offered")).strip()
    accepted = _text(form.get("accepted")) == "yes"
    back = _text(form.get("item_id"))
    if not offered:
        raise InvalidInput("offered: choose the substitute you offered")
    body = FeedbackIn(accepted_item_ids=[offered] if accepted else [], offered_item_ids=[offered])
    committed = await record_feedback(
        services, services.reads, user.principal, recommendation_id, body
    )
    result = orjson.loads(committed.content)
    answer = "accepted" if accepted else "declined"
    notice = {
        "kind": "ok",
        "title": f"Recorded: the customer {answer} {offered}.",
        "lines": [f"{result['rows_written']} row(s) added to the substitutions history."],
    }
    if back:
        return _item_response(request, user, back, notice=notice)
    return render(request, "_notice.html", {**notice, "message": notice["title"]}, user=user)
