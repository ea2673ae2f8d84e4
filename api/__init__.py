"""Amber's HTTP API: one router per dialect, all on one FastAPI app."""
