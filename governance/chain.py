"""The audit hash chain, as pure functions: canonical payloads, link hashes, verification.

Each event's hash covers its canonical content and the previous event's hash, so changing,
removing or reordering any event breaks every later link; verification walks the chain once
and names the first sequence number that does not check out. Against an anchored head
(:mod:`governance.store.anchor`) it also finds a deleted tail, and a rewrite whose hashes were
recomputed up to the head. Payloads are stored as the
exact canonical text that was hashed, so verification never depends on how a database
round-trips JSON numbers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from stockpilot import jsonable
from stockpilot.jsonable import format_time

GENESIS = "0" * 64


def canonical_payload(value: Any) -> str:
    """Canonical JSON of an event payload or stored response: the per-request hot path.

    The rules of :func:`~stockpilot.jsonable.canonical_json` (sorted keys, NaN → null,
    NumPy, enums, aware datetimes; a naive datetime refused) with orjson, ~10× faster on
    a scored order's features and contributions. The text is stored and hashed as it is,
    so verification never re-serialises a payload and the two encoders never need to agree
    byte for byte. Link hashes and idempotency fingerprints, which are recomputed, stay on
    :func:`~stockpilot.jsonable.canonical_json`.
    """
    return jsonable.dumps(value, sort_keys=True, naive="raise", what="payload").decode()


@dataclass(frozen=True, slots=True)
class Link:
    """The hashed fields of one audit event."""

    seq: int
    at: datetime
    kind: str
    actor: str
    actor_role: str | None
    subject_type: str
    subject_id: str
    payload: str  # canonical JSON text
    prev_hash: str
    hash: str = ""


def link_hash(link: Link) -> str:
    """sha256 of the link's canonical JSON.

    The fields are text, integers and null only, for which orjson with sorted keys writes
    exactly the bytes of :func:`canonical_json` (``tests/governance/test_audit_chain.py``
    checks it on arbitrary text); it is ~10× faster on a scored order's payload.
    """
    content = {
        "seq": link.seq,
        "at": format_time(link.at),
        "kind": link.kind,
        "actor": link.actor,
        "actor_role": link.actor_role,
        "subject_type": link.subject_type,
        "subject_id": link.subject_id,
        "payload": link.payload,
        "prev_hash": link.prev_hash,
    }
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True, slots=True)
class Verification:
    ok: bool
    count: int  # events checked (up to and including the first broken one)
    first_broken: int | None = None
    problem: str | None = None
    anchored: int | None = None  # the anchored head the chain was checked against

    def __str__(self) -> str:
        if not self.ok:
            return f"audit chain broken at seq {self.first_broken}: {self.problem}"
        if self.anchored is None:
            return f"audit chain intact: {self.count} events (no anchored head to check the tail)"
        return f"audit chain intact: {self.count} events, anchored head at seq {self.anchored}"


def verify_links(links: Iterable[Link], *, anchor: Any = None) -> Verification:
    """Check sequence contiguity (from 1), back-links and hashes, in ``seq`` order.

    ``anchor`` (a :class:`governance.store.anchor.Checkpoint`: ``seq`` and ``head``): the chain
    must contain event ``seq`` hashing to ``head``.
    """
    expected_seq, prev_hash, count = 1, GENESIS, 0
    anchored = None if anchor is None else anchor.seq
    for link in links:
        count += 1
        if link.seq != expected_seq:
            return Verification(
                False, count, expected_seq, f"event {expected_seq} is missing (next is {link.seq})"
            )
        if link.prev_hash != prev_hash:
            return Verification(
                False, count, link.seq, "prev_hash does not match the previous event's hash"
            )
        if link_hash(link) != link.hash:
            return Verification(False, count, link.seq, "content does not match its hash")
        if link.seq == anchored and link.hash != anchor.head:
            return Verification(
                False,
                count,
                link.seq,
                "does not match the anchored head hash: the chain was rewritten at or "
                "before this event (with recomputed hashes)",
                anchored,
            )
        expected_seq, prev_hash = expected_seq + 1, link.hash
    if anchored is not None and count < anchored:
        return Verification(
            False,
            count,
            count + 1,
            f"the chain ends at seq {count} but its anchored head is seq {anchored}: "
            f"events {count + 1}..{anchored} were deleted",
            anchored,
        )
    return Verification(True, count, anchored=anchored)
