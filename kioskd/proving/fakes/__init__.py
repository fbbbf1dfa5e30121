"""Fakes for what is absent here: an ESC/POS printer on loopback, sample Banklot answers."""
