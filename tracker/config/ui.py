"""The ``ui`` section: ``mctrack ui``, the read-only web console and HTTP API over the hub's Redis keys."""

from __future__ import annotations

from dataclasses import dataclass

from tracker.config.errors import ConfigError
from tracker.config.fields import _f

__all__ = ["UiConfig"]


@dataclass
class UiConfig:
    host: str = _f("127.0.0.1", "Address the web console listens on. Any address other than a loopback one "
                   "(127.0.0.1, ::1, localhost) needs a token in the environment variable named by token_env, or "
                   "`mctrack ui` refuses to start.")
    port: int = _f(8080, "HTTP port of the web console (0 = any free port, logged at start).", lo=0, hi=65535)
    token_env: str = _f("MCTRACK_UI_TOKEN", "Environment variable holding the access token. When it is set, every "
                        "page and API call needs it (`Authorization: Bearer TOKEN`, or the login form's cookie in "
                        "a browser); /healthz and /static stay open.")
    wall_refresh_s: float = _f(0.5, "How often the camera wall asks for each camera's status (a small JSON); a "
                               "snapshot image is fetched only when a new one was published. With "
                               "snapshots.interval_s 1 the wall shows frames under 2 s old.",
                               lo=0.2, hi=3600.0)
    map_refresh_s: float = _f(2.0, "How often the site map reloads people's current positions.", lo=0.2,
                              hi=3600.0)
    heatmap_cell_m: float = _f(0.5, "Side of a square occupancy heatmap cell on the ground plane, in metres.",
                               lo=0.05, hi=100.0)
    heatmap_window_s: float = _f(600.0, "Default time window of the occupancy heatmap, ending at the latest camera "
                                 "time (the page lets you choose another).", lo=1.0, hi=30 * 86400.0)
    page_size: int = _f(50, "Identities per page by default (`limit` of /api/identities).", lo=1, hi=10000)
    max_page_size: int = _f(500, "Largest `limit` a client may ask for.", lo=1, hi=100000)
    events_backlog: int = _f(50, "Identity events sent first to a new live-events client that gives no "
                             "Last-Event-ID.", lo=0, hi=10000)
    max_event_streams: int = _f(16, "Most live-events (SSE) clients at once; more get HTTP 503. Each holds a worker "
                                "thread of the console (of about 40) and a Redis connection.", lo=1, hi=1000)
    sse_keepalive_s: float = _f(15.0, "A live-events connection without events gets a comment line this often "
                                "(keeps proxies from closing it, notices closed clients).", lo=0.5, hi=600.0)

    def check(self, key: str) -> None:
        if self.page_size > self.max_page_size:
            raise ConfigError(f"{key}.page_size = {self.page_size} is larger than {key}.max_page_size = "
                              f"{self.max_page_size}: raise max_page_size or lower page_size")
        if not self.token_env.strip():
            raise ConfigError(f"{key}.token_env is empty: name an environment variable, e.g. MCTRACK_UI_TOKEN")
