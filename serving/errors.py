"""HTTP mapping of the one error hierarchy, in one place (STYLE: Feast feature server)."""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from stockpilot.errors import StockPilotError
from stockpilot.jsonable import plain

log = logging.getLogger(__name__)


def error_body(code: str, message: str, **details: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    return {"error": body}


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    out = ""
    for part in parts:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out


def install(app: FastAPI) -> None:
    @app.exception_handler(StockPilotError)
    async def domain_error(request: Request, exc: StockPilotError) -> JSONResponse:
        details = {k: plain(v, unknown="str") for k, v in exc.details.items() if k != "report"}
        headers = None
        if exc.retry_after is not None:  # 429 and 503: when a retry is worth making
            headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
        return JSONResponse(
            error_body(exc.code, exc.message, **details),
            status_code=exc.status_code,
            headers=headers,
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [
            {
                "field": _field(tuple(e.get("loc", ()))),
                "message": e.get("msg", ""),
                "type": e.get("type", ""),
            }
            for e in exc.errors()
        ]
        message = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
        return JSONResponse(
            error_body("invalid_input", message or "invalid request", fields=fields),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {
            # FastAPI's answer to a body it cannot decode (e.g. not UTF-8); JSON that does
            # not parse is a 422 naming the position instead.
            400: "malformed_body",
            401: "unauthorized",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
            413: "payload_too_large",
        }.get(exc.status_code, f"http_{exc.status_code}")
        return JSONResponse(
            error_body(code, str(exc.detail)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Never expected: every known failure is a StockPilotError. Logged with the trace.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body("internal", "internal error"), status_code=500)


def body_limit_response() -> dict[int | str, dict[str, Any]]:
    """The 413 every operation may answer, for the app's OpenAPI."""
    from serving.schemas.common import errors

    return errors(413)


class BodyLimit:
    """Pure ASGI middleware: 413 for bodies above ``max_bytes`` (declared or streamed)."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    await self._reject(send)
                    return
        seen = 0

        async def limited_receive() -> dict:
            # A streamed body without Content-Length: the app's exception layer answers 413.
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise StarletteHTTPException(413, f"request body above {self.max_bytes} bytes")
            return message

        await self.app(scope, limited_receive, send)

    async def _reject(self, send: Any) -> None:
        import json

        body = json.dumps(
            error_body("payload_too_large", f"request body above {self.max_bytes} bytes")
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
