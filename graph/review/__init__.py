"""Analysts' review of rings: decisions and undo, kept as an append-only trail."""
