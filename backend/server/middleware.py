"""ASGI middleware that answers before the application reads a byte of the body.

Authentication comes first, so a client without the token learns nothing (not even
which paths exist) and cannot make the server store an upload. The body limit counts
the bytes as they arrive, so a client that sends no Content-Length cannot get past it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException

from backend.server.auth import token_matches

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PUBLIC_PATHS = {"/health", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}


async def send_error(send: Send, status: int, message: str, headers: list | None = None) -> None:
    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class TokenAuth:
    """Every request but the public read-only ones needs ``Authorization: Bearer <token>``."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (
            scope["method"] in ("GET", "HEAD") and scope["path"] in PUBLIC_PATHS
        ):
            await self.app(scope, receive, send)
            return
        values = [v for k, v in scope["headers"] if k == b"authorization"]
        if len(values) == 1 and token_matches(values[0], self.token):
            await self.app(scope, receive, send)
            return
        message = (
            "missing 'Authorization: Bearer <token>' header; the token is in the file the "
            "server printed at start"
            if not values
            else "invalid token in the Authorization header"
        )
        await send_error(send, 401, message, [(b"www-authenticate", b"Bearer")])


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413, declared or not."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = [v for k, v in scope["headers"] if k == b"content-length"]
        if declared:
            if len(declared) > 1 or not declared[0].isdigit():
                await send_error(send, 400, "Content-Length must be one non-negative integer")
                return
            if int(declared[0]) > self.max_bytes:
                await send_error(send, 413, self._too_large())
                return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise HTTPException(413, self._too_large())
            return message

        await self.app(scope, counted, send)

    def _too_large(self) -> str:
        return f"request body larger than the {self.max_bytes} byte upload limit"
