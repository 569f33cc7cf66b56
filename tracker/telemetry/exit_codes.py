"""Exit codes shared by every mctrack process (workers, hub, supervisor, CLI)."""

from __future__ import annotations

__all__ = ["EXIT_OK", "EXIT_ERROR", "EXIT_FATAL"]

EXIT_OK = 0
EXIT_ERROR = 1  # unexpected failure: the supervisor restarts the process with backoff
EXIT_FATAL = 2  # user error (bad config, missing model, unusable source): restarting cannot help
