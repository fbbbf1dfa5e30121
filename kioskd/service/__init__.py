"""Service infrastructure: config, journald logging, sd_notify, control socket, unit checks.

Each module is usable on its own; `daemon.py` composes them. Nothing here imports the hardware
or network packages, so `kioskd check-config` and `kioskctl` start fast.
"""
