"""One error hierarchy. Each class knows its HTTP status; serving maps them in one handler."""

from __future__ import annotations


class StockPilotError(Exception):
    status_code = 500
    code = "error"

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


class NotReady(StockPilotError):
    status_code = 503
    code = "not_ready"
