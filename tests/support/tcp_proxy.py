"""A TCP proxy that a fault test can stall and cut, between the API and PostgreSQL.

It runs its own event loop in a thread, like a piece of network the API does not control.
:meth:`TcpProxy.stall` stops forwarding in both directions while keeping every socket open and
silent (a paused proxy, a black-holed route): connections, new ones included, see no bytes and no
error. :meth:`TcpProxy.cut` resets every open connection, dropping whatever was in flight, and
keeps refusing new ones while ``refusing``. :meth:`TcpProxy.restore` brings the network back.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")

_CHUNK = 64 * 1024


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to ``upstream_host``:``upstream_port``."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy")
        self._flowing: asyncio.Event
        self._refusing = False
        self._server: asyncio.Server | None = None
        self._links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        self._run(self._start())
        return self

    def __exit__(self, *_: object) -> None:
        self._run(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def stall(self) -> None:
        """Stop forwarding; every socket stays open and silent."""
        self._loop.call_soon_threadsafe(self._flowing.clear)

    def cut(self, *, refusing: bool = False) -> None:
        """Reset every open connection; with ``refusing``, new ones are reset on arrival too."""
        self._run(self._cut(refusing))

    def restore(self) -> None:
        """Forward again and accept new connections."""
        self._refusing = False
        self._loop.call_soon_threadsafe(self._flowing.set)

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(work, self._loop)
        return future.result(timeout=10)

    async def _start(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        await self._cut(refusing=True)
        if self._server is not None:
            self._server.close()

    async def _cut(self, refusing: bool) -> None:
        self._refusing = refusing
        for client, upstream in list(self._links):
            client.transport.abort()
            upstream.transport.abort()
        self._links.clear()

    async def _accept(self, client_in: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        if self._refusing:
            client.transport.abort()
            return
        try:
            upstream_in, upstream = await asyncio.open_connection(*self.upstream)
        except OSError:
            client.transport.abort()
            return
        link = (client, upstream)
        self._links.add(link)
        pipes = [
            asyncio.create_task(self._pipe(client_in, upstream)),
            asyncio.create_task(self._pipe(upstream_in, client)),
        ]
        # Either side closing ends the link, as a connection through a real proxy ends.
        await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        for pipe in pipes:
            pipe.cancel()
        self._links.discard(link)
        client.transport.abort()
        upstream.transport.abort()

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(_CHUNK):
                await self._flowing.wait()
                if sink.transport.is_closing():
                    return
                sink.write(data)
                await sink.drain()
        except OSError:
            return
