"""BanklotClient against scripted answers (httpx.MockTransport): every error class, every
endpoint's request body as the seed shows it, login on demand and the 403 path."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import date

import httpx
import pytest

from kioskd.banklot import errors as e
from kioskd.banklot import models as m
from kioskd.banklot.client import BanklotClient, TicketImage

from . import seed_examples as seed
from .fakeapi import PASSWORD, TOKEN, FakeApi, ok

DAY = ("2024-10-23T04:00:00.000Z", "2024-10-24T03:59:59.999Z")


def _const(resp: httpx.Response | dict, status: int = 200):
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(resp, dict):
            return ok(resp, status)
        return resp

    return handler


def _raise(exc: Exception):
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


# ------------------------------------------------------------------ login and the 403 path


async def test_login_on_demand_and_token_header() -> None:
    api = FakeApi(routes={"/gaming/get-data": _const(seed.GET_DATA)})
    async with api.client() as client:
        assert not client.logged_in
        data = await client.get_data()
        assert data.time_zone == "America/Caracas"
        assert client.logged_in
        await client.get_data()
    assert api.logins == 1
    assert [r.headers["x-auth-token"] for r in api.calls("/gaming/get-data")] == [TOKEN, TOKEN]
    assert "x-auth-token" not in api.calls("/auth/login")[0].headers


async def test_login_token_at_top_level() -> None:
    api = FakeApi(
        token_at_top=True, routes={"/gaming/time": _const({"status": 200, "response": 5})}
    )
    async with api.client() as client:
        assert (await client.time()).unix == 5
    assert api.calls("/gaming/time")[0].headers["x-auth-token"] == TOKEN


async def test_bad_password_is_auth_failed_without_secret() -> None:
    api = FakeApi()
    async with api.client(password="wrong-Pass-99") as client:
        with pytest.raises(e.AuthFailed) as info:
            await client.login()
    assert "wrong-Pass-99" not in str(info.value)
    assert info.value.status == 403


async def test_login_answer_without_token_is_bad_response() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return ok({"status": 200, "response": {"token": "x"}})

    async with BanklotClient(
        "https://banklot.test", "a@b", "pw", transport=httpx.MockTransport(handler)
    ) as client:
        with pytest.raises(e.BadResponse, match="x_auth_token"):
            await client.login()
        assert not client.logged_in


async def test_expired_token_read_logs_in_again_once() -> None:
    api = FakeApi(
        tokens=["tok-A-1111", "tok-B-2222"],
        routes={"/gaming/get-data": _const(seed.GET_DATA)},
    )
    async with api.client() as client:
        await client.get_data()
        api.valid.clear()  # the server forgets the token
        await client.get_data()
    assert api.logins == 2
    sent = [r.headers["x-auth-token"] for r in api.calls("/gaming/get-data")]
    assert sent == ["tok-A-1111", "tok-A-1111", "tok-B-2222"]


async def test_forbidden_after_fresh_login_is_auth_failed() -> None:
    forbidden = _const({"status": 403, "error": "version deprecated"}, 403)
    api = FakeApi(routes={"/gaming/products/search": forbidden})
    async with api.client() as client:
        with pytest.raises(e.AuthFailed) as info:
            await client.products()
        assert not client.logged_in
    assert api.logins == 2 and len(api.calls("/gaming/products/search")) == 2
    assert TOKEN not in str(info.value)


async def test_body_status_403_with_http_200_is_the_auth_path() -> None:
    api = FakeApi(
        routes={
            "/gaming/get-data": [
                _const({"status": 403, "error": "token expired"}, 200),
                _const(seed.GET_DATA),
            ]
        }
    )
    async with api.client() as client:
        assert (await client.get_data()).entity_id == 213
    assert api.logins == 2


async def test_create_forbidden_is_resent_once_after_login_by_default() -> None:
    created = dict(seed.LAST, status=201)
    api = FakeApi(
        routes={
            "/user/ticket/create": [
                _const({"status": 403, "error": "token expired"}, 403),
                _const(created, 201),
            ]
        }
    )
    async with api.client() as client:
        t = await client.create([m.WagerRequest(22, 23301, 5, "0")])
    assert t.ticket_number == 10063292
    assert len(api.calls("/user/ticket/create")) == 2 and api.logins == 2


async def test_create_forbidden_not_resent_when_disabled() -> None:
    api = FakeApi(
        routes={"/user/ticket/create": _const({"status": 403, "error": "token expired"}, 403)}
    )
    async with api.client(retry_mutations_after_login=False) as client:
        with pytest.raises(e.AuthFailed):
            await client.create([m.WagerRequest(22, 23301, 5, "0")])
    assert len(api.calls("/user/ticket/create")) == 1


async def test_login_in_doubt_before_a_create_means_create_not_sent() -> None:
    api = FakeApi()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/auth/login":
            raise httpx.ReadTimeout("slow", request=request)
        return api.handle(request)

    client = api.client()
    client._sender = client._http._transport = httpx.MockTransport(handler)
    with pytest.raises(e.NotSent):
        await client.create([m.WagerRequest(22, 23301, 5, "0")])
    assert api.calls("/user/ticket/create") == []
    await client.aclose()


async def test_concurrent_calls_share_one_login() -> None:
    api = FakeApi(routes={"/gaming/get-data": _const(seed.GET_DATA)})
    async with api.client() as client:
        await asyncio.gather(*(client.get_data() for _ in range(5)))
    assert api.logins == 1


async def test_logout_forgets_token_and_tolerates_403() -> None:
    api = FakeApi(routes={"/auth/logout": _const(httpx.Response(204))})
    async with api.client() as client:
        await client.login()
        await client.logout()
        assert not client.logged_in
        await client.logout()  # no token: no call
        await client.login()
        api.valid.clear()
        await client.logout()  # 403: already out
    assert len(api.calls("/auth/logout")) == 2
    assert api.calls("/auth/logout")[0].method == "GET"


def test_repr_hides_secrets() -> None:
    client = FakeApi().client()
    client._token = type(client._password)(TOKEN)
    text = repr(client) + str(vars(client) if hasattr(client, "__dict__") else "")
    assert PASSWORD not in text and TOKEN not in text
    assert "logged in" in repr(client)


# ------------------------------------------------------------------ envelope and classification


async def test_error_with_http_200_is_authoritative() -> None:
    api = FakeApi(routes={"/user/ticket/pay": _const(seed.PAY_NOT_A_WINNER, 200)})
    async with api.client() as client:
        with pytest.raises(e.NotAWinner) as info:
            await client.pay(10653459, 84038675, "2024-09-16")
    assert info.value.status == 200 and info.value.endpoint == "/user/ticket/pay"


@pytest.mark.parametrize(
    ("path", "answer", "http", "cls"),
    [
        ("/user/ticket/create", seed.CREATE_CLOSED, 409, e.EventsClosed),
        ("/user/ticket/cancel", seed.CANCEL_NOT_FOUND, 400, e.TicketNotFound),
        ("/user/ticket/revert", seed.REVERT_ALREADY, 401, e.AlreadyRejected),
        ("/user/ticket/pay", {"status": 400, "error": "ticket already paid"}, 400, e.AlreadyPaid),
        ("/user/ticket/pay", {"status": 400, "error": "ticket expired"}, 400, e.TicketExpired),
        (
            "/user/ticket/cancel",
            {"status": 400, "error": "cancel window passed"},
            400,
            e.CancelWindowPassed,
        ),
        (
            "/user/ticket/create",
            {"status": 400, "error": "wager amount 150 above max_bet 99"},
            400,
            e.WagerRejected,
        ),
        ("/user/ticket/cancel", {"status": 418, "error": "something new"}, 418, e.Rejected),
    ],
)
async def test_known_errors_map_to_rejections(path: str, answer: dict, http: int, cls) -> None:
    api = FakeApi(routes={path: _const(answer, http)})
    async with api.client() as client:
        with pytest.raises(cls) as info:
            if path == "/user/ticket/create":
                await client.create([m.WagerRequest(2000, 18859, 1, "341")])
            elif path == "/user/ticket/pay":
                await client.pay(1, 2, "2024-09-16")
            elif path == "/user/ticket/cancel":
                await client.cancel(18712010)
            else:
                await client.revert(71998218)
    assert type(info.value) is cls
    assert info.value.status == answer["status"]
    if cls is e.EventsClosed:
        assert info.value.event_ids == (18859,)


async def test_server_echoing_the_pin_is_scrubbed() -> None:
    api = FakeApi(
        routes={"/user/ticket/pay": _const({"status": 400, "error": "invalid pin 04038675"}, 400)}
    )
    async with api.client() as client:
        with pytest.raises(e.WrongPin) as info:
            await client.pay(10653459, 4038675, date(2024, 9, 16))
    assert "4038675" not in str(info.value)
    assert api.body("/user/ticket/pay")["date"] == "2024-09-16"


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_5xx_is_in_doubt_not_rejected(status: int) -> None:
    page = httpx.Response(status, text="<html><body>Gateway</body></html>")
    api = FakeApi(routes={"/user/ticket/create": _const(page)})
    async with api.client() as client:
        with pytest.raises(e.InDoubt) as info:
            await client.create([m.WagerRequest(2, 1, 1, "341")])
    assert not isinstance(info.value, e.BadResponse)
    assert info.value.status == status


async def test_500_with_an_error_envelope_is_still_in_doubt() -> None:
    api = FakeApi(routes={"/user/ticket/cancel": _const({"status": 500, "error": "db"}, 500)})
    async with api.client() as client:
        with pytest.raises(e.InDoubt):
            await client.cancel(1)


async def test_server_error_ends_the_request_only_with_the_apis_own_500_envelope() -> None:
    """Item 3: the API's own 500 envelope is a ServerError (the outbox decides "request
    over" from it, no quiet period); break `ends_request` and this fails."""
    api = FakeApi(routes={"/user/ticket/cancel": _const({"status": 500, "error": "db"}, 500)})
    async with api.client() as client:
        with pytest.raises(e.ServerError) as info:
            await client.cancel(1)
    assert info.value.status == 500


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_gateway_json_error_never_ends_a_request(status: int) -> None:
    """Item 3 (Why: a gateway answers 502 `{"status":502,"error":"Bad Gateway"}` while the
    upstream commits later): 502/503/504 are in doubt whatever the body, never "over"."""
    body = {"status": status, "error": "Bad Gateway"}
    api = FakeApi(routes={"/user/ticket/create": _const(body, status)})
    async with api.client() as client:
        with pytest.raises(e.InDoubt) as info:
            await client.create([m.WagerRequest(2, 1, 1, "341")])
    assert not isinstance(info.value, e.ServerError | e.BadResponse)
    assert info.value.status == status


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(500, html="<html><body>Internal Server Error</body></html>"),
        httpx.Response(500),
        httpx.Response(500, json=[500, "error"]),
        httpx.Response(500, json={"status": 500}),
        httpx.Response(500, json={"status": 500, "error": ""}),
        httpx.Response(500, json={"status": "500", "error": "db"}),
        httpx.Response(500, json={"status": 502, "error": "Bad Gateway"}),
        httpx.Response(500, json={"error": "db"}),
        httpx.Response(200, json={"status": 500, "error": "db"}),
    ],
    ids=["html", "empty", "list", "no error", "empty error", "status text", "status disagrees",
         "no status", "http 200"],
)  # fmt: skip
async def test_only_the_apis_envelope_ends_a_request(answer: httpx.Response) -> None:
    """Item 3: HTML, empty or non-envelope bodies, or an envelope whose status disagrees with
    the HTTP status, are in doubt without ending the request."""
    client = BanklotClient("http://api.test", "e", "p")
    await client.aclose()
    with pytest.raises(e.InDoubt) as info:
        kind = answer.headers.get("content-type", "")
        client._classify("/user/ticket/create", answer.status_code, kind, answer.content, (), None)
    assert not isinstance(info.value, e.ServerError)


async def test_body_status_500_with_http_200_is_in_doubt() -> None:
    api = FakeApi(routes={"/user/ticket/cancel": _const({"status": 500, "error": "db"}, 200)})
    async with api.client() as client:
        with pytest.raises(e.InDoubt) as info:
            await client.cancel(1)
    assert not isinstance(info.value, e.Rejected)


GARBAGE = {
    "malformed json": httpx.Response(
        200, text='{"status": 201, "respo', headers={"content-type": "application/json"}
    ),
    "html page": httpx.Response(200, html="<html><body>Maintenance</body></html>"),
    "html 404": httpx.Response(404, html="<html>Not Found</html>"),
    "empty body": httpx.Response(200),
    "json list": httpx.Response(200, json=[1, 2]),
    "status as text": httpx.Response(200, json={"status": "201", "response": {}}),
    "wrong types": httpx.Response(
        201,
        json={"status": 201, "response": {"ticket_number": "x", "created_at": [], "wagers": {}}},
    ),
    "response missing": httpx.Response(201, json={"status": 201}),
    "error not text": httpx.Response(200, json={"status": 200, "error": {"code": 1}}),
    "error empty": httpx.Response(200, json={"status": 200, "error": ""}),
    "4xx without error": httpx.Response(400, json={"status": 400}),
    "redirect": httpx.Response(302, headers={"location": "https://elsewhere.test/"}),
    "deep nesting": httpx.Response(200, text="[" * 100_000 + "]" * 100_000),
    "bad gzip": httpx.Response(
        200,
        stream=httpx.ByteStream(b"not gzip"),
        headers={"content-encoding": "gzip", "content-type": "application/json"},
    ),
}


@pytest.mark.parametrize("name", sorted(GARBAGE))
async def test_garbage_is_bad_response(name: str) -> None:
    api = FakeApi(routes={"/user/ticket/create": _const(GARBAGE[name])})
    async with api.client() as client:
        with pytest.raises(e.BadResponse) as info:
            await client.create([m.WagerRequest(2, 1, 1, "341")])
    assert info.value.endpoint == "/user/ticket/create"
    assert isinstance(info.value, e.InDoubt)


async def test_ten_megabyte_body_is_cut() -> None:
    huge = b'{"status":200,"response":"' + b"x" * 10_000_000 + b'"}'
    api = FakeApi(routes={"/gaming/get-data": _const(httpx.Response(200, content=huge))})
    async with api.client() as client:
        with pytest.raises(e.BadResponse, match="exceeds"):
            await client.get_data()


async def test_ten_megabyte_stream_without_length_is_cut_early() -> None:
    pulled = 0

    async def stream() -> AsyncIterator[bytes]:
        nonlocal pulled
        for _ in range(160):  # 10 MiB in 64 KiB chunks
            pulled += 1
            yield b"x" * 65536

    api = FakeApi(routes={"/gaming/get-data": _const(httpx.Response(200, content=stream()))})
    async with api.client(max_body_bytes=1_000_000) as client:
        with pytest.raises(e.BadResponse, match="exceeds"):
            await client.get_data()
    assert pulled < 20


@pytest.mark.parametrize(
    ("exc", "cls"),
    [
        (httpx.ConnectError("refused"), e.NotSent),
        (httpx.ConnectTimeout("slow connect"), e.NotSent),
        (httpx.PoolTimeout("pool"), e.NotSent),
        (httpx.ReadTimeout("slow"), e.InDoubt),
        (httpx.WriteTimeout("slow"), e.InDoubt),
        (httpx.ReadError("reset"), e.InDoubt),
        (httpx.WriteError("broken pipe"), e.InDoubt),
        (httpx.RemoteProtocolError("closed without response"), e.InDoubt),
        (RuntimeError("transport bug"), e.InDoubt),
    ],
)
async def test_transport_failures_are_classified(exc: Exception, cls: type) -> None:
    api = FakeApi(routes={"/user/ticket/create": _raise(exc)})
    async with api.client() as client:
        with pytest.raises(cls) as info:
            await client.create([m.WagerRequest(2, 1, 1, "341")])
    assert type(info.value) is cls


async def test_trickling_server_hits_the_overall_deadline() -> None:
    async def trickle() -> AsyncIterator[bytes]:
        yield b'{"status":200,'
        while True:
            await asyncio.sleep(0.02)
            yield b" "

    api = FakeApi(routes={"/gaming/get-data": _const(httpx.Response(200, content=trickle()))})
    async with api.client(deadline=0.3) as client:
        with pytest.raises(e.InDoubt, match="deadline") as info:
            await client.get_data()
    assert not isinstance(info.value, e.BadResponse)


def test_tls_defaults() -> None:
    from kioskd.banklot.transport import H11Transport

    client = BanklotClient("https://banklot.test", "a@b", "pw")
    transport = client._http._transport
    assert isinstance(transport, H11Transport)  # one attempt a call: it never retries
    context = transport._ssl_context()
    assert context is client._tls and context.verify_mode.name == "CERT_REQUIRED"
    assert context.check_hostname
    assert client._http.timeout.connect == 5.0 and client._http.timeout.read == 15.0
    with pytest.raises(OSError):
        BanklotClient("https://banklot.test", "a@b", "pw", ca_bundle="missing-ca.pem")


# ------------------------------------------------------------------ every endpoint, seed bodies


async def test_ticket_lookup_sends_seed_body() -> None:
    api = FakeApi(routes={"/user/ticket": _const(seed.LOOKUP, 201)})
    async with api.client() as client:
        t = await client.ticket(32426439, date(2024, 10, 22))
    assert api.body("/user/ticket") == seed.LOOKUP_REQUEST
    assert t.pin_number == 76479163 and len(t.wagers) == 6


@pytest.mark.parametrize(
    ("request_body", "answer", "kwargs"),
    [
        (
            seed.LIST_CANCELED_REQUEST,
            seed.LIST_CANCELED,
            {"status": "canceled", "sort": {"created_at": 1}},
        ),
        (
            {
                "filter": {"between_created_at": list(DAY), "status": "winner"},
                "sort": {"created_at": 1},
            },
            seed.LIST_WINNER,
            {"status": "winner", "sort": {"created_at": 1}},
        ),
        (
            seed.LIST_WAGER_REQUEST,
            seed.LIST_WAGER,
            {"transaction_type": "wager", "order_by": [{"name": "created_at", "value": "desc"}]},
        ),
    ],
)
async def test_ticket_list_sends_seed_bodies(request_body: dict, answer: dict, kwargs) -> None:
    api = FakeApi(routes={"/user/ticket/": _const(answer)})
    async with api.client() as client:
        rows = await client.tickets(request_body["filter"]["between_created_at"], **kwargs)
    assert api.body("/user/ticket/") == request_body
    assert rows[0].ticket_number == answer["response"][0]["ticket_number"]


async def test_ticket_list_empty_total_zero() -> None:
    api = FakeApi(routes={"/user/ticket/": _const({"status": 201, "total": 0})})
    async with api.client() as client:
        assert await client.tickets(DAY) == ()


async def test_last_and_last_when_none() -> None:
    api = FakeApi(
        routes={
            "/user/ticket/last": [
                _const(seed.LAST, 202),
                _const({"status": 400, "error": "no rows in result set"}, 400),
                _const({"status": 202, "response": None}, 202),
            ]
        }
    )
    async with api.client() as client:
        t = await client.last()
        assert t is not None and t.ticket_number == 10063292 and t.pin_number == 38037945
        assert await client.last() is None
        assert await client.last() is None
    assert api.calls("/user/ticket/last")[0].method == "POST"


async def test_image_returns_bytes() -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
    uid = "f3f30cdb-2165-487b-bfd0-c990b7ab62c1"
    api = FakeApi(
        routes={
            f"/user/ticket/image/{uid}": _const(
                httpx.Response(200, content=png, headers={"content-type": "image/png"})
            )
        }
    )
    async with api.client() as client:
        img = await client.image(uid)
        with pytest.raises(ValueError):
            await client.image("../../auth/login")
    assert img == TicketImage("image/png", png)
    assert api.calls(f"/user/ticket/image/{uid}")[0].method == "GET"


async def test_create_sends_seed_body() -> None:
    created = dict(seed.LOOKUP, status=201)
    api = FakeApi(routes={"/user/ticket/create": _const(created, 201)})
    wagers = [m.WagerRequest(**w) for w in seed.CREATE_REQUEST["ticket"]["wagers"]]
    async with api.client() as client:
        t = await client.create(wagers)
        with pytest.raises(ValueError):
            await client.create([])
    assert api.body("/user/ticket/create") == seed.CREATE_REQUEST
    assert t.ticket_number == 32426439


async def test_pay_sends_seed_body_and_parses_result() -> None:
    paid = {
        "status": 200,
        "response": {
            "ticket_number": 10653459,
            "status": "paid",
            "prize": 330,
            "paid_at": 1726500000,
        },
    }
    api = FakeApi(routes={"/user/ticket/pay": _const(paid)})
    async with api.client() as client:
        r = await client.pay(10653459, 84038675, "2024-09-16")
    assert api.body("/user/ticket/pay") == seed.PAY_REQUEST
    assert r == m.PayResult(10653459, "paid", 330, 1726500000)


async def test_cancel_revert_copy_send_seed_bodies() -> None:
    done = {"status": 200, "response": {"ticket_number": 18712010, "status": "canceled"}}
    api = FakeApi(
        routes={
            "/user/ticket/cancel": _const(done),
            "/user/ticket/revert": _const(done),
            "/user/ticket/copy": _const(seed.COPY, 201),
        }
    )
    async with api.client() as client:
        assert (await client.cancel(18712010)).status == "canceled"
        assert (await client.revert(71998218)).ticket_number == 18712010
        proposal = await client.copy(71998218, "2024-09-17")
    assert api.body("/user/ticket/cancel") == seed.CANCEL_REQUEST
    assert api.body("/user/ticket/revert") == seed.REVERT_REQUEST
    assert api.body("/user/ticket/copy") == seed.COPY_REQUEST
    assert proposal.wagers[0].old_event_id == 18748


async def test_catalog_endpoints() -> None:
    api = FakeApi(
        routes={
            "/gaming/get-data": _const(seed.GET_DATA),
            "/gaming/products/search": _const(seed.PRODUCTS, 201),
            "/gaming/inventory/template": _const(seed.INVENTORY),
            "/gaming/events/search/kiosk": _const(seed.EVENTS_KIOSK_EMPTY, 201),
            "/gaming/result/0": _const(seed.RESULTS),
            "/gaming/reports": _const(seed.REPORTS),
            "/gaming/time": _const({"status": 200, "response": {"unix": 1729664000}}),
        }
    )
    async with api.client() as client:
        assert (await client.get_data()).limits[1].max_bet == 99
        assert [p.id for p in await client.products()] == [17, 30, 18, 27, 2, 1]
        assert len(await client.inventory_template()) == 2
        between = seed.EVENTS_KIOSK_REQUEST["filter"]["between_created_at"]
        assert await client.events_kiosk(between, game_category="lottery") == ()
        results = await client.results(seed.RESULTS_REQUEST["filter"]["between_created_at"])
        assert [r.main_result for r in results] == ["5", "000-ACU", "000"]
        totals = await client.reports(seed.REPORTS_REQUEST["between_timestamp"])
        assert totals == m.ReportTotals(0, 0, 0, 0, 0)
        assert (await client.time()).unix == 1729664000
    assert api.body("/gaming/events/search/kiosk") == seed.EVENTS_KIOSK_REQUEST
    assert api.body("/gaming/result/0") == seed.RESULTS_REQUEST
    assert api.body("/gaming/reports") == seed.REPORTS_REQUEST
    assert api.calls("/gaming/time")[0].method == "GET"
    for path in ("/gaming/get-data", "/gaming/products/search", "/gaming/inventory/template"):
        assert api.calls(path)[0].method == "POST"


async def test_events_kiosk_rows() -> None:
    rows = {
        "status": 201,
        "response": [
            {
                "id": 23316,
                "game_product_id": 1,
                "name": "T",
                "closing_timestamp": {"seconds": 1729713300},
            }
        ],
    }
    api = FakeApi(routes={"/gaming/events/search/kiosk": _const(rows, 201)})
    async with api.client() as client:
        events = await client.events_kiosk(DAY)
    assert events[0].id == 23316 and events[0].closing_timestamp == 1729713300
    assert (
        "game_category"
        not in json.loads(api.calls("/gaming/events/search/kiosk")[0].content)["filter"]
    )


async def test_bad_arguments_are_value_errors_before_sending() -> None:
    api = FakeApi()
    async with api.client() as client:
        with pytest.raises(ValueError):
            await client.ticket(1, "22/10/2024")
        with pytest.raises(ValueError):
            await client.tickets(("only-one",))
        with pytest.raises(ValueError):
            await client.cancel(-1)
    assert api.seen == []


# ------------------------------------------------------------------ big answers off the loop


def _big(envelope: dict) -> dict:
    """The envelope padded past OFF_LOOP_BYTES with a key the client ignores."""
    from kioskd.banklot.client import OFF_LOOP_BYTES

    return {**envelope, "padding": "x" * (OFF_LOOP_BYTES + 1)}


@pytest.fixture
def decode_threads(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Records, for each `_classify` and each row validation, whether it ran on the loop's
    thread (a spy: the real code runs)."""
    import threading

    from kioskd.banklot.client import BanklotClient as Client

    on_loop: list[bool] = []
    classify, parse_list = Client._classify, m.parse_list

    def spy_classify(self, *args):  # type: ignore[no-untyped-def]
        on_loop.append(threading.current_thread() is threading.main_thread())
        return classify(self, *args)

    def spy_parse_list(*args):  # type: ignore[no-untyped-def]
        on_loop.append(threading.current_thread() is threading.main_thread())
        return parse_list(*args)

    monkeypatch.setattr(Client, "_classify", spy_classify)
    monkeypatch.setattr(m, "parse_list", spy_parse_list)
    return on_loop


async def test_big_catalog_answer_is_decoded_and_validated_off_the_loop(
    decode_threads: list[bool],
) -> None:
    """Issue 19: a catalog answer of MBs decoded on the loop stalled it 70-87 ms of CPU."""
    api = FakeApi(
        routes={
            "/gaming/products/search": _const(_big(seed.PRODUCTS), 201),
            "/gaming/inventory/template": _const(seed.INVENTORY),
        }
    )
    async with api.client() as client:
        assert [p.id for p in await client.products()] == [17, 30, 18, 27, 2, 1]
        big = list(decode_threads)
        decode_threads.clear()
        assert len(await client.inventory_template()) == 2
    # login (small), then the big answer's _classify and parse_list, both in a worker
    assert big[-2:] == [False, False]
    assert decode_threads == [True, True]  # a small answer stays on the loop


@pytest.mark.parametrize(
    ("http", "envelope", "cls"),
    [
        (500, {"status": 500, "error": "db"}, e.ServerError),
        (502, {"status": 502, "error": "Bad Gateway"}, e.InDoubt),
        (200, {"status": 500, "error": "db"}, e.InDoubt),
        (400, {"status": 400, "error": "something new"}, e.Rejected),
        (200, {"status": 200}, e.BadResponse),
    ],
)
async def test_big_answers_are_classified_as_small_ones(
    decode_threads: list[bool], http: int, envelope: dict, cls: type
) -> None:
    """The worker runs the same `_classify`: only the API's own 500 envelope ends a request."""
    api = FakeApi(routes={"/user/ticket/cancel": _const(_big(envelope), http)})
    async with api.client() as client:
        with pytest.raises(cls) as info:
            await client.cancel(1)
    assert type(info.value) is cls
    if cls is e.InDoubt:
        assert not isinstance(info.value, e.ServerError | e.BadResponse)
    assert decode_threads[-1] is False


async def test_the_ca_store_is_loaded_only_for_an_https_api(tmp_path) -> None:
    """Issue 19: an http:// API never makes a TLS connection, so its client loads no CA
    store (35 ms and 1.7 MB at start here); an https:// one reads its bundle at once."""
    from kioskd.banklot.client import BanklotClient

    missing = str(tmp_path / "no-such-ca.pem")
    plain = BanklotClient("http://127.0.0.1:9", "kiosk@example.test", "pw", ca_bundle=missing)
    await plain.aclose()
    with pytest.raises(OSError):
        BanklotClient("https://127.0.0.1:9", "kiosk@example.test", "pw", ca_bundle=missing)


async def test_urls_keep_the_base_path_and_are_made_once_per_path() -> None:
    """Issue 19 (CPU per sale): each API path's absolute URL is made once, as httpx would
    merge it (the base URL's own path kept), and the memo stays bounded."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.url.path.endswith("/auth/login"):
            return ok({"status": 200, "response": {"x_auth_token": TOKEN}})
        return ok({"status": 200, "response": 5})

    client = BanklotClient(
        "http://api.test/v2/", "e", PASSWORD, transport=httpx.MockTransport(handler)
    )
    async with client:
        for _ in range(3):
            await client.time()
        assert seen == ["http://api.test/v2/auth/login"] + ["http://api.test/v2/gaming/time"] * 3
        assert set(client._urls) == {"/auth/login", "/gaming/time"}
        first = client._urls["/gaming/time"]
        await client.time()
        assert client._urls["/gaming/time"] is first  # made once, not per request
        for n in range(100):
            client._url(f"/user/ticket/image/{n}")
        assert len(client._urls) <= 64


async def test_an_inventory_answer_seen_before_is_not_decoded_again(
    decode_threads: list[bool],
) -> None:
    """Issue 19 (idle CPU): the inventory template (13,000 rows in production, ~0.14 s of CPU
    to decode and check here) comes with the sha256 of its body; the same body again, byte
    for byte, is neither classified nor decoded: the caller keeps what it made of it. Another
    body is decoded as ever, and so is one whose digest is not the one given."""
    import hashlib

    changed = {**seed.INVENTORY, "response": seed.INVENTORY["response"][:1]}
    api = FakeApi(
        routes={
            "/gaming/inventory/template": [
                _const(seed.INVENTORY), _const(seed.INVENTORY), _const(changed),
                _const(changed),
            ]
        }
    )  # fmt: skip
    async with api.client() as client:
        digest, rows = await client.inventory_template_since(None)
        body = api.calls("/gaming/inventory/template")[0]
        assert rows is not None and len(rows) == 2
        decode_threads.clear()
        again, none = await client.inventory_template_since(digest)
        assert again == digest and none is None
        assert decode_threads == []  # nothing classified, nothing validated
        other, fewer = await client.inventory_template_since(digest)
        assert other != digest and fewer is not None and len(fewer) == 1
        assert decode_threads  # decoded and checked as ever
        _, rows_again = await client.inventory_template_since("0" * 64)
        assert rows_again is not None and len(rows_again) == 1
    assert body.method == "POST"
    assert hashlib.sha256(ok(seed.INVENTORY).content).hexdigest() == digest


@pytest.mark.parametrize("status", [502, 503, 500, 403])
async def test_the_known_inventory_body_under_a_non_2xx_status_is_no_answer(status: int) -> None:
    """Only a 2xx answer is taken for the body known before: the same bytes from a gateway's
    502 (or a 500, or a refusal) are classified as ever and end nothing."""
    body = ok(seed.INVENTORY).content
    api = FakeApi(
        routes={
            "/gaming/inventory/template": [
                _const(seed.INVENTORY),
                _const(httpx.Response(status, content=body)),
            ]
        }
    )
    async with api.client() as client:
        digest, _ = await client.inventory_template_since(None)
        with pytest.raises(e.BanklotError) as info:
            await client.inventory_template_since(digest)
    assert not isinstance(info.value, e.Rejected)
