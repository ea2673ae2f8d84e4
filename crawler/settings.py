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

CHROMIUM_CANDIDATES = (
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
    chromium_path: str = ""
    allowed_networks: Annotated[list[str], NoDecode] = Field(default_factory=list)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    capture_timeout: float = 60.0
    max_page_bytes: int = 200 * 1024 * 1024
    max_body_bytes: int = 10 * 1024 * 1024
    worker_threads: int = 2
    lease_seconds: float = 0.0
    redeliver_seconds: float = 300.0
    reconcile_interval: float = 15.0
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
    dns_cache_seconds: float = Field(default=60.0, ge=0)  # allow-list checks' DNS answers
    robots_cache_seconds: float = Field(default=3600.0, ge=0)  # a parsed robots.txt
    browser_recycle_pages: int = Field(default=500, ge=0)  # relaunch Chromium after N (0: never)
    browser_recycle_mb: int = Field(default=2048, ge=0)  # ...or past this RSS in MiB (0: never)
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
        """How long a claim lasts: the capture budget plus room for writing outputs."""
        return self.lease_seconds or self.capture_timeout * 2 + 30

    def chromium_executable(self) -> str | None:
        if self.chromium_path:
            return self.chromium_path
        for candidate in CHROMIUM_CANDIDATES:
            if Path(candidate).exists():
                return candidate
        return None


def load_settings(**overrides: object) -> Settings:
    """Read the environment once; tests pass overrides instead of patching env."""
    return Settings(**overrides)  # type: ignore[arg-type]
