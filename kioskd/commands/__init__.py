"""Sub-commands of `kioskd` (see kioskd.cli). Standard-library imports only at module level."""
