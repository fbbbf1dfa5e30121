"""kioskd: headless ticket-terminal daemon for lottery-agency kiosks."""

__version__ = "0.1.0"
