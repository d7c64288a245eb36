"""A real PostgreSQL server on 127.0.0.1 for the tests, the multi-worker runs and the benchmarks.

``CARNET_TEST_POSTGRES_URL`` names a server to use as it is. Otherwise the server binaries are found (installed
with ``apt-get install postgresql`` when missing and allowed: in CI, or with ``CARNET_INSTALL_POSTGRES=1``), a
throw-away cluster is created in a temporary folder, started on a free loopback port and stopped at exit.
PostgreSQL refuses to run as root, so as root the cluster belongs to the ``postgres`` system user.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """No server could be found or started; the message says why and how to fix it."""


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _find_bindir() -> Path | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True):
        if Path(candidate, "initdb").exists():
            return Path(candidate)
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    return None


def _install() -> None:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "postgresql"], check=True, env=env, stdout=subprocess.DEVNULL)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    url: str  #: ``postgres://user@127.0.0.1:port/postgres``
    host: str
    port: int
    user: str
    datadir: Path | None  #: None for a server we did not start
    _run_as: list[str]
    _bindir: Path | None

    def database_url(self, name: str) -> str:
        return f"postgres://{self.user}@{self.host}:{self.port}/{name}"

    def stop(self) -> None:
        if self.datadir is None or self._bindir is None:
            return
        subprocess.run(
            [*self._run_as, str(self._bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "stop"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        shutil.rmtree(self.datadir.parent, ignore_errors=True)
        self.datadir = None


_server: PostgresServer | None = None


def start_postgres() -> PostgresServer:
    """The process-wide server: reused across calls, stopped when the process ends."""
    global _server
    if _server is not None:
        return _server
    given = os.environ.get("CARNET_TEST_POSTGRES_URL")
    if given:
        from urllib.parse import urlsplit

        parts = urlsplit(given)
        _server = PostgresServer(
            given, parts.hostname or "127.0.0.1", parts.port or 5432, parts.username or "postgres", None, [], None
        )
        return _server

    bindir = _find_bindir()
    if bindir is None:
        if _in_ci() or os.environ.get("CARNET_INSTALL_POSTGRES") == "1":
            _install()
            bindir = _find_bindir()
        if bindir is None:
            raise PostgresUnavailable(
                "PostgreSQL is not installed: `apt-get install -y postgresql`, or set CARNET_TEST_POSTGRES_URL"
            )

    run_as: list[str] = []
    user = os.environ.get("USER") or "postgres"
    if os.geteuid() == 0:
        run_as = ["runuser", "-u", "postgres", "--"]
        user = "postgres"
    root = Path(tempfile.mkdtemp(prefix="carnet-pg-"))
    datadir = root / "data"
    sockdir = root / "sock"
    sockdir.mkdir()
    if run_as:
        shutil.chown(root, "postgres")
        shutil.chown(sockdir, "postgres")
    subprocess.run(
        [*run_as, str(bindir / "initdb"), "-D", str(datadir), "-U", user, "-A", "trust", "-E", "UTF8", "--no-sync"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    port = _free_port()
    # fsync off: a throw-away cluster; listen on loopback only, never on another address.
    options = f"-h 127.0.0.1 -p {port} -k {sockdir} -F -c max_connections=200 -c shared_buffers=128MB"
    subprocess.run(
        [*run_as, str(bindir / "pg_ctl"), "-D", str(datadir), "-o", options, "-l", str(root / "log"), "-w", "start"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    _server = PostgresServer(
        f"postgres://{user}@127.0.0.1:{port}/postgres", "127.0.0.1", port, user, datadir, run_as, bindir
    )
    atexit.register(_server.stop)
    _wait_ready(_server)
    return _server


def _wait_ready(server: PostgresServer, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((server.host, server.port), timeout=1):
            return
        time.sleep(0.1)
    raise PostgresUnavailable(f"PostgreSQL did not accept connections on {server.host}:{server.port}")


async def create_database(server: PostgresServer, name: str, template: str | None = None) -> str:
    """Create (or re-create) a database and return its URL."""
    import asyncpg

    conn = await asyncpg.connect(host=server.host, port=server.port, user=server.user, database="postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        suffix = f' TEMPLATE "{template}"' if template else ""
        await conn.execute(f'CREATE DATABASE "{name}"{suffix}')
    finally:
        await conn.close()
    return server.database_url(name)


async def drop_database(server: PostgresServer, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(host=server.host, port=server.port, user=server.user, database="postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
