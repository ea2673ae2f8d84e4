"""Throwaway real services for tests and benchmarks: Redis, PostgreSQL and `amber serve`.

Each starts from the installed binaries on a free port in a temp directory and
never touches the services that may already run on the standard ports.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from extractors.engine.page import SettleOptions

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
# The venv's console scripts (`amber`) import the project from wherever it was installed,
# which may be another checkout sharing the venv: subprocesses take this checkout first.
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p
)
PYWB_BIN = REPO / ".pywb-venv" / "bin"


# Tests that are not about settling capture with a short settle, so the suite stays as
# fast as before issue 16; tests/test_fidelity.py captures with the defaults.
QUICK_SETTLE_SETTINGS: dict[str, float] = {
    "settle_min": 0.0,
    "settle_quiet": 0.05,
    "settle_max": 3.0,
    "scroll_pause": 0.05,
}
QUICK_SETTLE_ENV = {f"AMBER_{k.upper()}": str(v) for k, v in QUICK_SETTLE_SETTINGS.items()}
QUICK_SETTLE = SettleOptions(minimum=0.0, quiet=0.05, maximum=3.0, scroll_pause=0.05)


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def _find_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for root in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (root / name).exists():
            return str(root / name)
    return None


@dataclass
class RedisServer:
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = _find_binary("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install -y redis-server)")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.process = None

    def restart(self) -> None:
        """Stop and start again on the same port, losing everything (no persistence)."""
        self.stop()
        self.start()


@dataclass
class PostgresServer:
    """initdb + pg_ctl in a temp dir; as root, both run as the `postgres` user."""

    port: int = field(default_factory=free_port)
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="amber-pg-")))
    # Extra `-c name=value` server settings: the 10M benchmark sizes its buffers as an
    # operator of such a store would; the suite runs on the defaults.
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/amber"

    def _run(self, *args: str) -> None:
        command = " ".join(f"'{a}'" for a in args)
        if os.geteuid() == 0:
            subprocess.run(
                ["su", "postgres", "-s", "/bin/sh", "-c", command],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=120,
            )
        else:
            subprocess.run(
                list(args),
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=120,
            )

    def start(self) -> PostgresServer:
        initdb, pg_ctl = _find_binary("initdb"), _find_binary("pg_ctl")
        if not initdb or not pg_ctl:
            raise RuntimeError("PostgreSQL server binaries are not installed")
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        data = self.root / "data"
        self._run(
            initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"
        )
        self.start_server()
        self.create_database("amber")
        return self

    def start_server(self) -> None:
        """(Re)start the server on the existing data directory."""
        pg_ctl = _find_binary("pg_ctl")
        assert pg_ctl is not None
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        ) + "".join(f" -c {name}={value}" for name, value in self.settings.items())
        self._run(
            pg_ctl,
            "-D",
            str(self.root / "data"),
            "-o",
            options,
            "-l",
            str(self.root / "log"),
            "-w",
            "start",
        )
        wait_for_port(self.port)

    def stop_server(self) -> None:
        """Stop the server (fast: connections are cut, committed data is kept) for outages."""
        pg_ctl = _find_binary("pg_ctl")
        assert pg_ctl is not None
        self._run(pg_ctl, "-D", str(self.root / "data"), "-m", "fast", "-w", "stop")

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        pg_ctl = _find_binary("pg_ctl")
        if pg_ctl and (self.root / "data").exists():
            with suppress(subprocess.CalledProcessError):
                self._run(pg_ctl, "-D", str(self.root / "data"), "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class AmberServer:
    """`amber serve` as a real subprocess on a free port."""

    env: dict[str, str]
    port: int = field(default_factory=free_port)
    args: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    replay_port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"

    def __post_init__(self) -> None:
        # Two free_port() calls in a row may hand out the same port (neither is held
        # until the server binds it), and `amber serve` refuses a replay port equal to
        # --port: one CI run failed so.
        while self.replay_port == self.port:
            self.replay_port = free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def replay_url(self) -> str:
        return f"http://127.0.0.1:{self.replay_port}"

    def start(self, timeout: float = 180.0) -> AmberServer:
        data_dir = Path(self.env.get("AMBER_DATA_DIR", tempfile.mkdtemp(prefix="amber-srv-")))
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = data_dir / f"serve-{self.port}.log"
        env = {**os.environ, "AMBER_BASE_URL": self.url, **self.env}
        self.process = subprocess.Popen(
            [
                str(VENV_BIN / "amber"),
                "serve",
                "--host",
                self.host,
                "--port",
                str(self.port),
                "--replay-port",
                str(self.replay_port),
                *self.args,
            ],
            env=env,
            stdout=self.log_path.open("ab"),
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"amber serve exited: {self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/openapi.json", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise TimeoutError(f"amber serve did not answer: {self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.process = None


def pywb_installed() -> bool:
    return (PYWB_BIN / "wayback").exists()


@contextmanager
def pywb_collection(
    root: Path, name: str, archives: Iterable[Path], *, unpack_wacz: bool = False
) -> Iterator[str]:
    """pywb (in its own venv) serving a collection of WARCs or WACZs; yields its URL prefix.

    pywb pins `redis==2.10.6`, so it cannot share Amber's venv; 2.10 adds a WACZ only
    with `--unpack-wacz`.
    """
    manager = str(PYWB_BIN / "wb-manager")
    subprocess.run([manager, "init", name], cwd=root, check=True, capture_output=True)
    for archive in archives:
        add = [manager, "add", *(["--unpack-wacz"] if unpack_wacz else []), name, str(archive)]
        subprocess.run(add, cwd=root, check=True, capture_output=True)
    port = free_port()
    process = subprocess.Popen(
        [str(PYWB_BIN / "wayback"), "-p", str(port), "-b", "127.0.0.1"],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, timeout=60)
        yield f"http://127.0.0.1:{port}/{name}"
    finally:
        process.terminate()
        process.wait(timeout=10)
