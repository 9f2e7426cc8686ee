"""The request size cap (settings.request_max_bytes): a body declared larger is refused with 413
before a byte of it is read; one that streams without a length is counted and cut off at the cap,
so a 2 GB upload is never parsed, spooled or stored."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.settings import get_settings


class RequestTooLarge(Exception):
    """The body passed the cap while it was being read."""


def refusal(limit: int) -> bytes:
    mb = f"{limit / 1024 / 1024:g}"
    detail = {
        "code": "request_too_large",
        "message": f"请求内容超过 {mb} MB 上限",
        "context": {"max_bytes": limit, "message_en": f"the request is larger than {mb} MB"},
    }
    return json.dumps({"detail": detail}, ensure_ascii=False).encode()


class BodyLimit:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = get_settings().request_max_bytes
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._refuse(send, limit)
            return
        received, exceeded, answered = 0, False, False

        async def counted() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise RequestTooLarge
            return message

        async def guarded(message: Message) -> None:
            nonlocal answered
            if exceeded:  # whatever the app made of the cut-off body, the answer is 413
                if not answered:
                    answered = True
                    await self._refuse(send, limit)
                return
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not exceeded:
                raise
            if not answered:
                answered = True
                await self._refuse(send, limit)

    @staticmethod
    async def _refuse(send: Send, limit: int) -> None:
        body = refusal(limit)
        await send({
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        })  # fmt: skip
        await send({"type": "http.response.body", "body": body})
