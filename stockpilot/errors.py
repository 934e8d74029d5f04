"""One error hierarchy. Each class knows its HTTP status; serving maps them in one handler."""

from __future__ import annotations


class StockPilotError(Exception):
    status_code = 500
    code = "error"
    retry_after: float | None = None  # seconds; sent as ``Retry-After`` when set

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidInput(StockPilotError, ValueError):
    status_code = 422
    code = "invalid_input"


class ContractViolation(InvalidInput):
    """A dataset breaks the data contract; ``report`` holds every finding."""

    code = "contract_violation"


class NotFound(StockPilotError, LookupError):
    status_code = 404
    code = "not_found"


class Conflict(StockPilotError):
    """An illegal or stale state transition, or an idempotency key reused with another body."""

    status_code = 409
    code = "conflict"


class Unauthorized(StockPilotError):
    status_code = 401
    code = "unauthorized"


class Forbidden(StockPilotError):
    status_code = 403
    code = "forbidden"


class RateLimited(StockPilotError):
    """The key has used up its request budget; ``retry_after`` says when a request fits."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float = 1.0, **details: object) -> None:
        super().__init__(message, **details)
        self.retry_after = retry_after


class NotReady(StockPilotError):
    """Starting, or something the request needs is not there yet: worth retrying shortly."""

    status_code = 503
    code = "not_ready"
    retry_after = 1.0


class Unavailable(NotReady):
    """The governance store cannot take the request now (connection lost, disk full, locked).

    Nothing of the request was committed, or its commit is unknown (the store went away
    while committing): a retry with the same ``Idempotency-Key`` is safe either way.
    """

    code = "store_unavailable"
