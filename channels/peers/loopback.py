"""Serving a peer's aiohttp app on 127.0.0.1 and a free port: the one place the peers bind, so none ever listens
on another address."""

from __future__ import annotations

from aiohttp import web


class LoopbackServer:
    def __init__(self, name: str) -> None:
        self.name = name
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        if not self.port:
            raise RuntimeError(f"the {self.name} peer is not started")
        return f"http://127.0.0.1:{self.port}"

    async def serve(self, app: web.Application) -> None:
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = int(self._runner.addresses[0][1])

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.port = 0
