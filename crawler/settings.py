"""All configuration, read once from the environment (prefix ``AMBER_``).

Below the edges (CLI, API app factory, worker boot) nothing reads ``os.environ``;
values are passed down from one `Settings` instance.
"""

from __future__ import annotations

import ipaddress
import re
from functools import cached_property
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ORIGIN = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s?#]+")

# Chromium's headless shell (Debian's `chromium-headless-shell`, what Playwright itself
# runs headless) comes first: it has no browser UI to composite, so a capture costs about
# a third less CPU than in the full browser's headless mode. A login window needs the
# full browser, so the headed candidates skip it.
HEADLESS_SHELL = "/usr/bin/chromium-headless-shell"
CHROMIUM_CANDIDATES = (
    HEADLESS_SHELL,
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
    "/usr/bin/google-chrome-stable",
)


class Settings(BaseSettings):
    """Every knob Amber has; the README documents each one."""

    model_config = SettingsConfigDict(env_prefix="AMBER_", extra="ignore")

    data_dir: Path = Path("./data")
    database_url: str = ""
    broker_url: str = ""
    blob_url: str = ""
    admin_token: str = ""
    admin_password: str = ""  # sets the `admin` user's web sign-in password at start
    session_hours: float = Field(default=336.0, gt=0)  # a web sign-in lasts this long (14 days)
    chromium_path: str = ""
    allowed_networks: Annotated[list[str], NoDecode] = Field(default_factory=list)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    capture_timeout: float = 60.0
    max_page_bytes: int = 200 * 1024 * 1024
    max_body_bytes: int = 10 * 1024 * 1024
    # After `load` a page is given settle_min..settle_max seconds to go quiet for
    # settle_quiet seconds (no requests, DOM changes, layout shifts or short timers).
    settle_min: float = Field(default=2.0, ge=0)
    settle_quiet: float = Field(default=0.5, ge=0)
    settle_max: float = Field(default=10.0, ge=0)
    scroll_pause: float = Field(default=0.3, ge=0)  # per lazy-scroll step
    scroll_height: int = Field(default=30_000, ge=0)  # pixels scrolled at most
    load_more_clicks: int = Field(default=3, ge=0)
    extra_fetch_bytes: int = Field(default=50 * 1024 * 1024, ge=0)  # candidates, whole media
    # Pages in flight per browser at most: a page spends most of its capture waiting (the
    # settle minimum, quiet windows), so many must be in flight for the CPUs to be the limit
    # (on 2 cores, 60 pages: 12 slots 3.35 pages/s, 24 3.91, 32 4.21). A next page starts
    # only while the CPUs were under cpu_admit_percent busy over the last second and
    # memory_admit_mb MiB are available (extractors/engine/admission.py), so a few heavy
    # pages are not squeezed past their budget; 100 and 0 turn those checks off.
    worker_threads: int = Field(default=32, ge=1)
    cpu_admit_percent: float = Field(default=97.0, gt=0, le=100)
    memory_admit_mb: float = Field(default=1024.0, ge=0)
    lease_seconds: float = 30.0  # renewed by every heartbeat; 0 = the capture budget x2 + 30
    redeliver_seconds: float = 300.0
    reconcile_interval: float = 5.0
    broker_check_seconds: float = 2.0  # how often reconcilers look for a lost broker queue
    max_attempts: int = 3
    retry_backoff: float = 2.0
    external_snapshots: bool = False
    base_url: str = ""
    s3_endpoint_url: str = ""
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""
    s3_region: str = "us-east-1"
    host_concurrency: int = 0
    host_rate_per_minute: int = 0
    heartbeat_seconds: float = 5.0
    replay_url: str = ""
    replay_port: int = Field(default=0, ge=0, le=65535)
    public_replay: bool = False
    diff_timeout: float = 1.0  # seconds a text diff may search before settling (0 = no limit)
    webhook_timeout: float = 5.0
    webhook_max_attempts: int = 8
    webhook_backoff: float = 30.0  # first retry after this many seconds, doubling each time
    behaviours: bool = True  # consent dismissal and per-site hooks after each page load
    behaviour_budget: float = 5.0  # seconds all behaviours of one page may take together
    persona_key: str = Field(default="", repr=False)  # encrypts personas; made once when unset
    dns_cache_seconds: float = Field(default=60.0, ge=0)  # allow-list checks' DNS answers
    robots_cache_seconds: float = Field(default=3600.0, ge=0)  # a parsed robots.txt
    browser_recycle_pages: int = Field(default=500, ge=0)  # relaunch Chromium after N (0: never)
    browser_recycle_mb: int = Field(default=2048, ge=0)  # ...or past this PSS in MiB (0: never)
    metrics_token: str = ""  # a bearer token for /metrics besides admins' own

    @field_validator("allowed_networks", "cors_origins", mode="before")
    @classmethod
    def _split_lists(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
        return value

    @field_validator("allowed_networks")
    @classmethod
    def _check_networks(cls, value: list[str]) -> list[str]:
        for cidr in value:
            ipaddress.ip_network(cidr, strict=False)
        return value

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, value: list[str]) -> list[str]:
        """An origin a browser sends is scheme://host[:port], never with a path or slash."""
        for origin in value:
            if origin != "*" and not ORIGIN.fullmatch(origin):
                raise ValueError(f"not an origin (scheme://host[:port], or *): {origin!r}")
        return value

    @cached_property
    def networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in self.allowed_networks)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'amber.sqlite3').resolve()}"

    @property
    def resolved_blob_url(self) -> str:
        return self.blob_url or str((self.data_dir / "blobs").resolve())

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def lease(self) -> float:
        """How long a claim lasts before a silent worker loses it (heartbeats renew it)."""
        if not self.lease_seconds:
            return self.capture_timeout * 2 + 30
        return max(self.lease_seconds, 3 * self.heartbeat_seconds)  # outlives missed beats

    def chromium_executable(self) -> str | None:
        """The browser captures run in (None: Playwright's own download)."""
        if self.chromium_path:
            return self.chromium_path
        for candidate in CHROMIUM_CANDIDATES:
            if Path(candidate).exists():
                return candidate
        return None

    def headed_chromium_executable(self) -> str | None:
        """A browser that can open a window (`amber persona login`): never the headless shell."""
        if self.chromium_path and "headless" not in Path(self.chromium_path).name:
            return self.chromium_path
        for candidate in CHROMIUM_CANDIDATES[1:]:
            if Path(candidate).exists():
                return candidate
        return None


def load_settings(**overrides: object) -> Settings:
    """Read the environment once; tests pass overrides instead of patching env."""
    return Settings(**overrides)  # type: ignore[arg-type]
