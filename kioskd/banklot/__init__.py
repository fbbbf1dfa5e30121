"""Grupo Banklot back-office API: typed async client (client.py), models, error taxonomy."""
