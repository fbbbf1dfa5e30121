"""The daemon's wiring: one process, one event loop, the parts composed and supervised.

`daemon.Daemon` composes the parts (journal, outbox, counter session, input, printer, lights);
`executor` carries the session's commands out, `spooler` prints the journal's print jobs,
`control` + `control_handler` serve `kioskctl`, `notify` talks to systemd, `logs` writes
structured entries to journald, `malloc` asks glibc for fewer arenas and freed pages back.
Config lives in `kioskd.config`, diagnosis in `kioskd.doctor`.
"""
