"""The writing side of a Redis client that :class:`tracker.bus.publisher.TrackletPublisher` needs.

Both a ``redis.Redis`` client (frames sent at once) and :class:`tracker.bus.write_behind.WriteBehindClient` (frames
queued in an outbox, sent in the background) satisfy these protocols. The parameters are those redis-py declares
(its field and value types), keyword-only where the publisher passes them by keyword.
"""

from __future__ import annotations

from typing import Protocol

from redis.typing import EncodableT, FieldT

__all__ = ["StreamPipeline", "StreamWriter"]


class StreamPipeline(Protocol):
    """A non-transactional pipeline: commands are queued and sent by :meth:`execute`."""

    def xadd(self, name: str, fields: dict[FieldT, EncodableT], *, maxlen: int | None = None,
             approximate: bool = True) -> object:
        """Queue an XADD of ``fields`` to stream ``name`` (capped near ``maxlen`` entries when approximate)."""

    def sadd(self, name: str, *values: FieldT) -> object:
        """Queue an SADD of ``values`` to set ``name``."""

    def execute(self) -> list[object]:
        """Send the queued commands; their replies in order (an XADD's reply: the entry id, or None when the
        writer sends later and the id is not known yet)."""


class StreamWriter(Protocol):
    """Appends to streams and adds to sets, directly or through a :class:`StreamPipeline`."""

    def xadd(self, name: str, fields: dict[FieldT, EncodableT], *, maxlen: int | None = None,
             approximate: bool = True) -> bytes | str | None:
        """Append ``fields`` to stream ``name``; the entry id, or None when the writer sends it later."""

    def sadd(self, name: str, *values: FieldT) -> int:
        """Add ``values`` to set ``name``; how many were added (or queued)."""

    def pipeline(self, transaction: bool = False) -> StreamPipeline:
        """A pipeline (``transaction=False``: commands are not wrapped in MULTI/EXEC)."""
