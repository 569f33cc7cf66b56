"""The one error the configuration raises."""

from __future__ import annotations

__all__ = ["ConfigError"]


class ConfigError(ValueError):
    """Raised for a configuration that cannot be used; the message names the key and what is allowed."""
