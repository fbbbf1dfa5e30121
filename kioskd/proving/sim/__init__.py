"""Banklot simulator: a faithful, stateful fake of the Grupo Banklot back office.

`simulator.Simulator` holds everything (pure, deterministic for a seed); `dispatch.handle` is the
one request handler; `app.create_app` serves it as ASGI, `inprocess.SimTransport` in process for
httpx, `server.SimServer` over real loopback HTTP (uvicorn). See docs/ARCHITECTURE.md for the
HTTP contract and the admin API.
"""
