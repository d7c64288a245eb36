"""The real Carnet web app on a free 127.0.0.1 port, with the demo school, for the browser tests.

The server is ``hub.web.create_app`` under uvicorn, configured through the same environment variables as
``carnet serve``, on a fresh SQLite file loaded as ``carnet demo-data --with-messages`` loads it.

It runs in a child process, not in a thread of the test process. Tortoise keeps one process-wide fallback
context (``hub/store/db.py`` enables it so that requests find the connections opened by the lifespan) and binds the
model classes themselves to the database opened last: with the server in a thread, every test taking the ``db``
fixture later in the same pytest run fails with "Global context fallback is already enabled", and its closing
unbinds the models under the server. A process shares none of that, and is the app exactly as deployed.

The listening socket is bound here and handed to the child, so the port is known before the child starts and no
other program can take it in between.

    with serve(tmp_path) as server:
        server.url                   # http://127.0.0.1:<port>
        server.run(some_async_fn)    # await some_async_fn() with Tortoise open on the server's database
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from hub import clock
from hub.config import ROOT, Settings
from hub.store import db

T = TypeVar("T")

#: How long the server may take to answer /health, and to stop: guards against a hang, not a measure of speed.
START_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0
#: What uvicorn logs when the app's lifespan fails to close (its exit status does not tell).
_SHUTDOWN_FAILED = "Application shutdown failed"


class LiveServerError(RuntimeError):
    """The server did not start, or did not stop cleanly; the message carries its log."""


@dataclass
class LiveServer:
    url: str  #: ``http://127.0.0.1:<port>``, no trailing slash
    settings: Settings  #: the settings the server runs with (its data directory, database, base URL)
    process: subprocess.Popen[bytes]
    log_path: Path  #: everything the server printed
    #: The server's clock, as an offset from the real time (0: the real time).
    clock_offset: float = 0.0

    def run(self, fn: Callable[[], Awaitable[T]]) -> T:
        """``await fn()`` with Tortoise open on the server's database, and return its result.

        It runs in a thread of its own with its own event loop, so sync and async tests may call it alike. The
        connection is opened and closed around each call: do not call it while a ``db`` fixture is open in the
        same test (Tortoise allows one such database at a time per process).
        """

        async def with_db() -> T:
            # On the server's clock: a sign-in link or a reply made here is made at the server's "now".
            with clock.using(_clock(self.clock_offset)):
                async with db.open_db(self.settings, run_migrations=False):
                    return await fn()

        return _in_own_thread(with_db)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        """Stop as a process manager would (SIGTERM: uvicorn finishes requests, the lifespan closes the database).

        Raises if the server does not stop in time or exits with an error, so a broken shutdown is seen.
        """
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired as exc:
                self.process.kill()
                self.process.wait()
                late = f"the live server did not stop within {STOP_TIMEOUT:.0f} s"
                raise LiveServerError(f"{late}:\n{self.log()}") from exc
        # uvicorn, once shut down, re-raises the SIGTERM it caught: that death is the clean end.
        clean = self.process.returncode in (0, -signal.SIGTERM) and _SHUTDOWN_FAILED not in self.log()
        if not clean:
            raise LiveServerError(f"the live server did not stop cleanly ({self.process.returncode}):\n{self.log()}")


@contextlib.contextmanager
def serve(workdir: Path, *, seed: int = 2026, at: dt.datetime | None = None) -> Iterator[LiveServer]:
    """A live server on a new demo school in ``workdir``, stopped on leaving; its clock at ``at`` if given."""
    server = start(workdir, seed=seed, at=at)
    try:
        yield server
    finally:
        server.stop()


def start(workdir: Path, *, seed: int = 2026, at: dt.datetime | None = None) -> LiveServer:
    """Load the demo school into a fresh database in ``workdir``, start the server and wait until it answers.

    With ``at``, the demo school is loaded and the server runs on a clock that started at ``at`` and runs
    forward (``hub.clock.RunningClock``): the browser tests that need the charter open say so with a Tuesday
    10:00. The child gets the clock's offset from the real time, so both processes read the same "now".
    """
    workdir.mkdir(parents=True, exist_ok=True)
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        port = int(listener.getsockname()[1])
        env = _server_env(workdir, port)
        settings = Settings.from_env(env)
        offset = (at - dt.datetime.now(dt.UTC)).total_seconds() if at is not None else 0.0
        _in_own_thread(lambda: _load_demo(settings, seed, offset))
        log_path = workdir / "server.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "hub.testing.liveserver", str(listener.fileno()), repr(offset)],
                env=env,
                cwd=ROOT,
                pass_fds=[listener.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
    finally:
        listener.close()  # the child holds its own copy
    server = LiveServer(
        url=settings.base_url, settings=settings, process=process, log_path=log_path, clock_offset=offset
    )
    try:
        _wait_until_healthy(server)
    except BaseException:
        if process.poll() is None:
            process.kill()
            process.wait()
        raise
    return server


def _server_env(workdir: Path, port: int) -> dict[str, str]:
    """The environment of the child: this process's, without any CARNET_ setting that would change the app."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CARNET_")}
    env.update(
        CARNET_DATA_DIR=str(workdir),
        CARNET_DATABASE_URL=f"sqlite://{workdir / 'carnet.sqlite3'}",
        CARNET_HOST="127.0.0.1",
        CARNET_PORT=str(port),
        CARNET_BASE_URL=f"http://127.0.0.1:{port}",
        PYTHONUNBUFFERED="1",
    )
    return env


def _clock(offset: float) -> clock.Clock:
    if not offset:
        return clock.current()
    return clock.RunningClock.with_offset(dt.timedelta(seconds=offset))


async def _load_demo(settings: Settings, seed: int, offset: float) -> None:
    """What ``carnet demo-data --with-messages`` does: the demo school, then its messages published now."""
    with clock.using(_clock(offset)):
        await _load_demo_now(settings, seed)


async def _load_demo_now(settings: Settings, seed: int) -> None:
    from hub.demo.school import generate_demo, publish_demo_messages

    async with db.open_db(settings):
        await generate_demo(seed=seed)
        await publish_demo_messages(clock.now())


def _in_own_thread(fn: Callable[[], Awaitable[T]]) -> T:
    """Run ``await fn()`` in a new thread and event loop: callable whether or not a loop runs in this thread."""

    async def main() -> T:
        return await fn()

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="liveserver-db") as pool:
        return pool.submit(asyncio.run, main()).result()


def _wait_until_healthy(server: LiveServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if server.process.poll() is not None:
            raise LiveServerError(f"the live server exited with status {server.process.returncode}:\n{server.log()}")
        try:
            with urllib.request.urlopen(f"{server.url}/health", timeout=5) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError as exc:  # it answers, wrongly: waiting longer will not help
            raise LiveServerError(f"/health answered {exc.code}:\n{server.log()}") from exc
        except (urllib.error.URLError, OSError):
            pass  # still starting: the socket accepts connections only once the lifespan has run
        if time.monotonic() > deadline:
            raise LiveServerError(f"/health did not answer within {START_TIMEOUT:.0f} s:\n{server.log()}")
        time.sleep(0.1)


def _serve_inherited_socket(fd: int, offset: float) -> None:
    """The child: ``create_app`` from the environment, under uvicorn, on the socket the parent bound, on the
    parent's clock."""
    import uvicorn

    from hub.web import create_app

    clock.use(_clock(offset))
    listener = socket.socket(fileno=fd)
    config = uvicorn.Config(create_app(Settings.from_env()), log_level="warning", access_log=False, lifespan="on")
    uvicorn.Server(config).run(sockets=[listener])


if __name__ == "__main__":
    _serve_inherited_socket(int(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 0.0)
