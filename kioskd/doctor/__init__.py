"""`kioskd doctor`: what is wrong with this kiosk and what to do, each check a judge of facts.

`checks` observes (devices, printer, API, clock, disk, journal) and judges pure facts into
`Finding`s; the `kioskd doctor` command formats them.
"""
