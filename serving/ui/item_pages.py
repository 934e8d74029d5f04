"""An item's page (``/ui/items/{id}``) and what a reviewer does there: decide (approve,
reject, override, an edited quantity), search substitutes for a short line, record a
customer's answer to an offered substitute.

Actions call the API's use cases (:func:`serving.routers.queues.decide_item`,
:func:`serving.routers.substitutes.search_substitutes` and
:func:`~serving.routers.substitutes.record_feedback`) under the same permissions; a stale
decision says who was first.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from governance import queues
from governance.access import Permission, require
from governance.reads import Reads
from governance.workflow import Status
from serving.deps import ReadsDep
from serving.ui import ranking
from serving.ui.items import item_context, order_line, order_rules
from serving.ui.web import (
    ItemId,
    PostUser,
    User,
    UserDep,
    form_text,
    is_htmx,
    may_decide,
    render,
    require_queue,
    router,
    services_of,
    workbench_of,
)
from stockpilot.errors import Conflict, Forbidden, InvalidInput


@router.get("/items/{item_id}")
def item_page(request: Request, user: UserDep, reads: ReadsDep, item_id: ItemId) -> HTMLResponse:
    done = request.query_params.get("done")
    notice = DONE.get(done) if done else None
    return _item_response(request, user, reads, item_id, notice=notice)


DONE = {
    "approve": {"kind": "ok", "title": "Approved."},
    "approval": {"kind": "ok", "title": "Your approval is recorded; another approver is needed."},
    "reject": {"kind": "ok", "title": "Rejected."},
    "override": {"kind": "ok", "title": "Overridden."},
}


def _item_response(
    request: Request,
    user: User,
    reads: Reads,
    item_id: str,
    *,
    notice: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    services = services_of(request)
    policy = services.policy.get()
    context = item_context(
        reads,
        services.live.inventory,
        workbench_of(request).catalogue,
        user.principal,
        item_id,
        policy,
    )
    require_queue(user, context["item"].queue, policy)
    context.update(
        may_decide=may_decide(user, context["item"].queue, policy)
        and context["item"].status is Status.pending,
        notice=notice,
        actor=user.principal.actor,
        **(extra or {}),
    )
    return render(request, "item.html", context, user=user, status=status)


@router.post("/items/{item_id}/decision")
async def decide(request: Request, user: PostUser, reads: ReadsDep, item_id: ItemId) -> Response:
    from serving.routers.queues import decide_item

    services = services_of(request)
    policy = services.policy.get()
    form = await request.form()
    action = form_text(form.get("action"))
    if action not in ("approve", "reject", "override"):
        raise InvalidInput("action: choose approve, reject or override")
    code = form_text(form.get("reason_code")).strip()
    comment = form_text(form.get("comment")).strip()[:1500]
    codes = getattr(policy.review.reason_codes, action)
    if code and code not in codes:
        raise InvalidInput(f"reason_code: {code!r} is not one of {', '.join(codes)} ({action})")
    if action != "approve" and not code:
        raise InvalidInput(f"reason_code: choose why you {action} ({', '.join(codes)})")
    reason = ": ".join(part for part in (code, comment) if part) or None
    version = form_text(form.get("expected_version"))
    expected = int(version) if version.isdigit() else None
    edited = _quantity(form_text(form.get("edited_qty")), action)
    before = reads.item(item_id)
    require_queue(user, before.queue, policy)
    if edited is not None:
        _check_order_quantity(reads, before, edited)
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
        return _stale(request, user, reads, item_id, action, err)
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
        return _item_response(request, user, reads, item_id, notice=notice, status=err.status_code)
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


def _check_order_quantity(reads: Reads, item: queues.QueueItem, qty: float) -> None:
    """A planner's quantity must respect the suggestion's MOQ and order multiple."""
    if item.kind != "replenishment":
        raise InvalidInput("edited_qty: only replenishment suggestions have a quantity to edit")
    moq, multiple = order_rules(reads, item)
    problems = []
    if moq and qty < moq:
        problems.append(f"below the MOQ of {moq:g}")
    if multiple and multiple > 0 and abs(qty / multiple - round(qty / multiple)) > 1e-9:
        problems.append(f"not a multiple of the order multiple {multiple:g}")
    if problems:
        lower = max(moq or 0.0, multiple or 0.0)
        if multiple and multiple > 0:
            suggestion = max(math.ceil(max(qty, moq or 0.0) / multiple) * multiple, lower)
        else:
            suggestion = max(qty, moq or 0.0)
        raise InvalidInput(
            f"edited_qty {qty:g} is " + " and ".join(problems) + f": try {suggestion:g}"
        )


def _stale(
    request: Request, user: User, reads: Reads, item_id: str, action: str, err: Conflict
) -> Response:
    now_item = reads.item(item_id)
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
    return _item_response(request, user, reads, item_id, notice=notice, status=409)


@router.post("/items/{item_id}/substitutes")
async def find_substitutes(
    request: Request, user: PostUser, reads: ReadsDep, item_id: ItemId
) -> Response:
    """Substitutes for one short line of an order at risk, from live stock (sales)."""
    from serving.routers.substitutes import search_substitutes
    from serving.schemas.substitutes import SubstitutesIn

    services = services_of(request)
    policy = services.policy.get()
    require(user.principal, Permission.substitutes_request)
    form = await request.form()
    line_no = form_text(form.get("line_no"))
    item = reads.item(item_id)
    require_queue(user, item.queue, policy)
    line, customer_id, promised = order_line(reads, item, line_no)
    body = SubstitutesIn(
        customer_id=customer_id,
        item_id=str(line["item_id"]),
        qty=float(line["qty"]),
        location_id=str(line["location_id"]),
        unit_price=float(line["unit_price"]),
        need_by=date.fromisoformat(promised) if promised else None,
        order_id=ranking.reference(item) if item.kind == "order_risk" else None,
    )
    committed, _, shadowed = await search_substitutes(services, user.principal, body)
    found = orjson.loads(committed.content)
    response = _item_response(
        request, user, reads, item_id, extra={"found": found, "found_line": line_no}
    )
    response.background = shadowed
    return response


@router.post("/recommendations/{recommendation_id}/feedback")
async def substitute_feedback(
    request: Request, user: PostUser, reads: ReadsDep, recommendation_id: ItemId
) -> Response:
    """Offer a substitute and record the customer's answer in one click (sales)."""
    from serving.routers.substitutes import record_feedback
    from serving.schemas.substitutes import FeedbackIn

    services = services_of(request)
    require(user.principal, Permission.substitutes_feedback)
    form = await request.form()
    offered = form_text(form.get("offered")).strip()
    accepted = form_text(form.get("accepted")) == "yes"
    back = form_text(form.get("item_id"))
    if not offered:
        raise InvalidInput("offered: choose the substitute you offered")
    body = FeedbackIn(accepted_item_ids=[offered] if accepted else [], offered_item_ids=[offered])
    committed = await record_feedback(services, reads, user.principal, recommendation_id, body)
    result = orjson.loads(committed.content)
    answer = "accepted" if accepted else "declined"
    notice = {
        "kind": "ok",
        "title": f"Recorded: the customer {answer} {offered}.",
        "lines": [f"{result['rows_written']} row(s) added to the substitutions history."],
    }
    if back:
        return _item_response(request, user, reads, back, notice=notice)
    return render(request, "_notice.html", {**notice, "message": notice["title"]}, user=user)
