"""Alerts after a detection run: what changed that a person should hear about, and webhook delivery."""
