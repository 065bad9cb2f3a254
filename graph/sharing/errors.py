"""The one error type of indicator sharing."""

from __future__ import annotations

__all__ = ["IndicatorError"]


class IndicatorError(ValueError):
    """A bundle, key or option the user must fix; the message is one line."""
