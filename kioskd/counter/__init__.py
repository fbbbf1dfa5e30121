"""Counter flows, sans-I/O: keymap, wager grammar, scan parser, catalog, session, slips, i18n.

Nothing in this package reads a clock, a file, a socket or a device: the daemon feeds events in
(`kioskd.counter.session`) and executes the actions that come out.
"""
