"""Replay inside Amber: archived pages served from their WARCs on an origin of their own."""
