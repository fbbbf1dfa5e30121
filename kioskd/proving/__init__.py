"""The proving ground: everything that proves the product and nothing the product needs.

- `sim/`: the Banklot simulator (pure state, ASGI app, in-process transport, loopback server).
- `fakes/`: a loopback ESC/POS printer, sample API answers for previews and tests.
- `harness`: the virtual kiosk (simulator + fake printer + replay FIFOs + the real daemon).
- `demo_shift`: the scripted shift of `kioskd demo`.
- `campaigns/`: the seeded chaos campaign, the kill -9 campaign, the power-cut campaign.
- `unitcheck`: the systemd unit check run by CI.

The product never imports this package (an import-linter contract in `pyproject.toml`); only the
`kioskd demo`, `sim`, `chaos` and `preview` commands do.
"""
