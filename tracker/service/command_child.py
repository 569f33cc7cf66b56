"""A supervised child that is a command line (``python -m tracker ui ...``) rather than a spawned Python function:
a :class:`subprocess.Popen` behind the part of :class:`multiprocessing.Process`'s interface the supervisor uses
(``start``, ``pid``, ``exitcode``, ``join``, ``terminate``, ``kill``), with a stop "event" that asks it to stop
with SIGTERM (the mctrack commands stop cleanly on it)."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

__all__ = ["CommandProcess", "CommandStop"]


class CommandProcess:
    """One run of ``argv`` (stdout and stderr shared with the supervisor)."""

    def __init__(self, argv: Sequence[str]) -> None:
        self.argv = list(argv)
        self._popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._popen = subprocess.Popen(self.argv)

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen is not None else None

    @property
    def exitcode(self) -> int | None:
        """None while it runs; its exit code, or -N when signal N ended it (as ``multiprocessing`` reports)."""
        return self._popen.poll() if self._popen is not None else None

    def join(self, timeout: float | None = None) -> None:
        if self._popen is None:
            return
        try:
            self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            pass

    def terminate(self) -> None:
        if self._popen is not None and self._popen.poll() is None:
            self._popen.terminate()

    def kill(self) -> None:
        if self._popen is not None and self._popen.poll() is None:
            self._popen.kill()


class CommandStop:
    """The stop "event" of a :class:`CommandProcess`: ``set`` sends it SIGTERM once."""

    def __init__(self, proc: CommandProcess) -> None:
        self._proc = proc
        self._set = False

    def set(self) -> None:
        if not self._set:
            self._set = True
            self._proc.terminate()

    def is_set(self) -> bool:
        return self._set
