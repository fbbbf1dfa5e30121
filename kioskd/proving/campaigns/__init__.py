"""Campaigns that try to break exactly-once: seeded chaos (in process, virtual time), kill -9 of
the real daemon (`kill9`) and power cuts under a forgetful filesystem (`powercut`)."""
