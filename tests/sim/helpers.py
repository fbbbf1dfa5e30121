"""Shared test helpers: constants of the default day and a thin JSON caller."""

from __future__ import annotations

from typing import Any

import httpx

EMAIL = "username@banklot.net"
PASSWORD = "banklot"
# The local day of DEFAULT_START (2024-10-22 10:00 America/Caracas) as the API writes it.
DAY = ["2024-10-22T04:00:00.000Z", "2024-10-23T03:59:59.999Z"]


class Api:
    """A thin caller: JSON in, (http status, decoded body) out, token attached."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.token: str | None = None

    async def login(self, email: str = EMAIL, password: str = PASSWORD) -> str:
        status, body = await self.post("/auth/login", {"email": email, "password": password})
        assert status == 200, body
        self.token = body["response"]["x_auth_token"]
        return self.token

    def _headers(self) -> dict[str, str]:
        return {"x-auth-token": self.token} if self.token else {}

    async def post(self, path: str, body: Any = None) -> tuple[int, Any]:
        kwargs = {"json": body} if body is not None else {}
        r = await self.client.post(path, headers=self._headers(), **kwargs)
        return r.status_code, r.json()

    async def get(self, path: str) -> tuple[int, Any]:
        r = await self.client.get(path, headers=self._headers())
        return r.status_code, r.json()

    async def sell(self, *wagers: tuple[int, int, int, str]) -> dict[str, Any]:
        """Sell (amount, event_id, game_id, wager) tuples; returns the ticket."""
        body = {
            "ticket": {
                "wagers": [
                    {"amount": a, "event_id": e, "game_id": g, "wager": w} for a, e, g, w in wagers
                ]
            }
        }
        status, reply = await self.post("/user/ticket/create", body)
        assert status == 201, reply
        return reply["response"]
