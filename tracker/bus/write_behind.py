"""Write-behind Redis access for camera workers: publishing goes into a bounded :class:`Outbox` and never blocks on,
nor fails because of, Redis."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from streams.redact import redact
from tracker.bus.outbox import Outbox
from tracker.config import Config, ConfigError

__all__ = ["WriteBehindClient", "make_outbox"]


class WriteBehindClient:
    """The part of a redis-py client :class:`tracker.bus.publisher.TrackletPublisher` writes with (``xadd``, ``sadd``
    and a non-transactional ``pipeline`` of those), queued in an :class:`Outbox` instead of sent: publishing never
    blocks on, nor fails because of, Redis. ``xadd`` returns None (the id is chosen when the message is sent)."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox
        self.updates_put = 0  # tracklet updates in the queued frame messages (their ``n`` field)

    def xadd(self, name: str, fields: Mapping[Any, Any], id: str = "*", maxlen: int | None = None,  # noqa: A002
             approximate: bool = True, **_: Any) -> None:
        encoded = {(k.encode() if isinstance(k, str) else k): (v.encode() if isinstance(v, str) else v)
                   for k, v in fields.items()}
        self.outbox.put(name, encoded, maxlen)
        try:
            self.updates_put += int(encoded.get(b"n", b"0"))
        except ValueError:
            pass
        return None

    def sadd(self, name: str, *values: Any) -> int:
        self.outbox.set_latest(f"sadd {name} {values!r}", lambda client: client.sadd(name, *values))
        return len(values)

    def pipeline(self, transaction: bool = False) -> _WriteBehindPipeline:
        return _WriteBehindPipeline(self)


class _WriteBehindPipeline:
    def __init__(self, client: WriteBehindClient) -> None:
        self._client = client
        self._calls: list[Callable[[], Any]] = []

    def xadd(self, *args: Any, **kwargs: Any) -> _WriteBehindPipeline:
        self._calls.append(lambda: self._client.xadd(*args, **kwargs))
        return self

    def sadd(self, *args: Any, **kwargs: Any) -> _WriteBehindPipeline:
        self._calls.append(lambda: self._client.sadd(*args, **kwargs))
        return self

    def __len__(self) -> int:
        return len(self._calls)

    def execute(self) -> list[Any]:
        calls, self._calls = self._calls, []
        return [call() for call in calls]



def make_outbox(cfg: Config, redis_url: str | None, name: str,
                on_connect: Callable[[Any], None] | None = None) -> tuple[Outbox, list[Any]]:
    """An outbox whose client factory connects with :func:`tracker.bus.connection.connect` (once it succeeds the same
    client is reused; redis-py reconnects by itself). Returns (outbox, handles): close the handles at the end.

    Raises:
        ConfigError: the Redis URL is unusable (bad scheme): retrying cannot help.
    """
    from urllib.parse import urlsplit

    from tracker.bus.connection import connect

    url = redis_url or cfg.redis.url
    if url and urlsplit(url).scheme.lower() not in ("redis", "rediss", "unix"):
        raise ConfigError(f"redis.url {redact(url)!r}: unsupported scheme; use redis://host:port, rediss://host:port "
                          f"(TLS) or unix:///path/to/socket")
    handles: list[Any] = []

    def factory() -> Any:
        handle = connect(cfg.redis, redis_url)
        handles.append(handle)
        return handle.client

    w = cfg.worker
    outbox = Outbox(factory, max_messages=w.outbox_max_messages, batch=w.outbox_batch,
                    initial_backoff_s=w.redis_initial_backoff_s, max_backoff_s=w.redis_max_backoff_s,
                    jitter=cfg.source.reconnect_jitter, name=name, on_connect=on_connect)
    return outbox, handles
