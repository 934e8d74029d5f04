"""The workbench's sign-in, home and queue pages (``/ui/login``, ``/ui/home``,
``/ui/queues/{queue}``), and approving low-impact items of a queue in bulk.

Pages stand in the frame of :mod:`serving.ui.web` (the signed-in user, permissions,
CSRF, errors as pages); reads go through :class:`governance.reads.Reads` (given by
``ReadsDep``, as to the API's routers), decisions through the API's use case
(:func:`serving.routers.queues.decide_item`).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from governance.access import Permission, require
from governance.reads import Reads
from serving.deps import ReadsDep
from serving.ui import ranking
from serving.ui.auth import (
    CSRF_FIELD,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    clear_cookies,
    set_login_cookie,
    set_session_cookie,
    tokens_match,
)
from serving.ui.web import (
    PostUser,
    QueueName,
    Text,
    User,
    UserDep,
    form_text,
    may_decide,
    readable_queues,
    render,
    require_queue,
    router,
    services_of,
    workbench_of,
)
from stockpilot.errors import Conflict, Forbidden, InvalidInput, Unauthorized

DUE_SOON = timedelta(hours=1)


# --- sign-in ---------------------------------------------------------------------------


@router.get("", include_in_schema=False)
@router.get("/", include_in_schema=False)
async def root(request: Request) -> Response:
    session = workbench_of(request).sessions.get(request.cookies.get(SESSION_COOKIE))
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
async def login(request: Request, reads: ReadsDep) -> Response:
    form = await request.form()
    if not tokens_match(request.cookies.get(LOGIN_COOKIE), form_text(form.get(CSRF_FIELD))):
        raise Forbidden("the sign-in form expired or did not come from this site: reload it")
    token = form_text(form.get("api_key")).strip()
    services = services_of(request)
    try:
        principal, expires_at = reads.authenticate_until(token)
    except Unauthorized:
        return _login_form(
            request, error="That API key is not valid (unknown, revoked or expired).", status=401
        )
    services.limiter.take(principal.key_id or principal.actor)
    wb = workbench_of(request)
    cookie, web = wb.sessions.create(token, principal, expires_at)
    response = RedirectResponse("/ui/home", status_code=303)
    set_session_cookie(response, request, cookie, web.expires_at - datetime.now(UTC).timestamp())
    response.delete_cookie(LOGIN_COOKIE, path="/ui")
    return response


@router.post("/logout")
async def logout(request: Request, user: PostUser) -> Response:
    workbench_of(request).sessions.drop(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/ui/login", status_code=303)
    clear_cookies(response, request)
    return response


# --- home ------------------------------------------------------------------------------


@router.get("/home")
def home(request: Request, user: UserDep, reads: ReadsDep) -> HTMLResponse:
    services = services_of(request)
    policy = services.policy.get()
    mine = readable_queues(user, policy)
    now = datetime.now(UTC)
    today = datetime.combine(now.date(), time(0), tzinfo=UTC)
    overview = reads.overview(
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


@router.get("/queues/{queue}")
def queue_page(
    request: Request,
    user: UserDep,
    reads: ReadsDep,
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
        reads,
        queue,
        ranking.Filters(q, location, customer, driver, band),
        page,
        partial=partial,
    )


def queue_view(
    request: Request,
    user: User,
    reads: Reads,
    queue: str,
    filters: ranking.Filters,
    number: int,
    *,
    partial: bool = False,
    notice: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    services = services_of(request)
    policy = services.policy.get()
    require_queue(user, queue, policy)
    now = datetime.now(UTC)
    wb = workbench_of(request)
    paged = wb.queues.page(reads, queue, policy, wb.catalogue.tiers(), filters, number, now=now)
    approvers = reads.approvers([r.item for r in paged.rows])
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
        "may_decide": may_decide(user, queue, policy),
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
async def bulk_approve(
    request: Request, user: PostUser, reads: ReadsDep, queue: QueueName
) -> HTMLResponse:
    """Approve the chosen items at once — only those the policy marks low-impact now."""
    from serving.routers.queues import decide_item

    services = services_of(request)
    policy = services.policy.get()
    require_queue(user, queue, policy)
    require(user.principal, Permission.queues_decide)
    form = await request.form()
    chosen: dict[str, int] = {}
    for value in form.getlist("item"):
        item_id, _, version = form_text(value).partition(":")
        if item_id and version.isdigit():
            chosen[item_id] = int(version)
    if not chosen:
        raise InvalidInput("bulk approve: choose at least one item")
    if len(chosen) > ranking.PAGE_SIZE * 4:
        raise InvalidInput(f"bulk approve: at most {ranking.PAGE_SIZE * 4} items at once")
    now = datetime.now(UTC)
    items = [i for i in reads.pending_by_id(chosen) if i.queue == queue]
    ranked = {
        r.item.id: r
        for r in ranking.rank(items, policy.review, workbench_of(request).catalogue.tiers(), now)
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
    return queue_view(request, user, reads, queue, ranking.Filters(), 1, notice=notice)
