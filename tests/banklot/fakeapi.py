"""A tiny scripted Banklot for httpx.MockTransport: login, token check, per-path handlers.

Not a simulator (that is kioskd.proving.sim): each test scripts exactly the answers it needs and
reads back what the client sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from kioskd.banklot.client import BanklotClient

EMAIL = "username@banklot.net"
PASSWORD = "pw-Sekret-4711"
TOKEN = "tok-Very-Secret-0042"

Handler = Callable[[httpx.Request], httpx.Response]


def ok(payload: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=payload)


@dataclass
class FakeApi:
    routes: dict[str, Handler | list[Handler]] = field(default_factory=dict)
    tokens: list[str] = field(default_factory=lambda: [TOKEN])
    token_at_top: bool = False
    seen: list[httpx.Request] = field(default_factory=list)
    logins: int = 0
    valid: set[str] = field(default_factory=set)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        path = request.url.path
        if path == "/auth/login":
            body = json.loads(request.content)
            if body != {"email": EMAIL, "password": PASSWORD}:
                return ok({"status": 403, "error": "invalid email or password"}, 403)
            token = self.tokens[min(self.logins, len(self.tokens) - 1)]
            self.logins += 1
            self.valid.add(token)
            if self.token_at_top:
                return ok({"status": 200, "x_auth_token": token})
            return ok({"status": 200, "response": {"x_auth_token": token}})
        if request.headers.get("x-auth-token") not in self.valid:
            return ok({"status": 403, "error": "token expired"}, 403)
        handler = self.routes.get(path)
        if handler is None:
            return httpx.Response(404, text="<html>not found</html>")
        if isinstance(handler, list):
            handler = handler.pop(0) if len(handler) > 1 else handler[0]
        return handler(request)

    def calls(self, path: str) -> list[httpx.Request]:
        return [r for r in self.seen if r.url.path == path]

    def body(self, path: str, index: int = -1) -> Any:
        return json.loads(self.calls(path)[index].content)

    def client(self, **kwargs: Any) -> BanklotClient:
        kwargs.setdefault("password", PASSWORD)
        return BanklotClient(
            "https://banklot.test", EMAIL, transport=httpx.MockTransport(self.handle), **kwargs
        )
