"""Hooks for the schemathesis run of ``test_api_fuzz.py`` (``SCHEMATHESIS_HOOKS``).

A key per role: an auth provider gives each operation the API key of a role holding its
permission (``STOCKPILOT_FUZZ_KEYS``: a JSON file, operation label → key). As an auth
provider, not a configured header, so that schemathesis's own cases without credentials
(``ignored_auth``, a missing ``X-API-Key``) really go without.

Schemathesis draws ``Idempotency-Key`` values from a small space (``null``, ``0``, …) and
sends the same one with different bodies. The API answers that with a 422, as it must (a
reused key with another request is refused: IETF's Idempotency-Key draft, our SPEC §8), and
the positive-data check then reports a valid request rejected. So a generated key that the
API would accept ends in a unique suffix, at the same length where it can (the 255-character
boundary stays tried): each case is its own request, and the 422 for a reused key stays
covered by ``test_api_orders.py``. Keys the API must refuse (too long, not printable) are
sent as they are.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import schemathesis

_KEYS: dict[str, str] = {}


@schemathesis.auth(cache_by_key=lambda case, context: context.operation.label)
class KeyPerRole:
    def get(self, case, context) -> str | None:
        if not _KEYS:
            _KEYS.update(json.loads(Path(os.environ["STOCKPILOT_FUZZ_KEYS"]).read_text()))
        return _KEYS.get(context.operation.label)

    def set(self, case, data: str, context) -> None:
        case.headers = {**(case.headers or {}), "X-API-Key": data}


@schemathesis.hook
def before_call(context, case, kwargs) -> None:
    headers = case.headers or {}
    key = headers.get("Idempotency-Key")
    if isinstance(key, str) and 0 < len(key) <= 255 and key.isprintable():
        unique = uuid.uuid4().hex
        cut = len(key) - len(unique)
        case.headers["Idempotency-Key"] = key[:cut] + unique if cut > 0 else f"{key}-{unique}"
