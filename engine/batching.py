"""Group commit: concurrent requests of one process sharing one statement.

A request's statement costs a round trip and PostgreSQL's per-statement overhead whatever it
carries; requests that arrive together can share both. :class:`Batcher` queues the items
submitted to it and hands them to its ``run`` function as one batch; each submitter gets its own
item's result (or the batch's exception).

The window is the time the batches already in flight take, not a timer: when fewer than
``in_flight`` batches run, a batch starts on the event loop's next turn with whatever was
submitted in the meantime (a lone request never waits for a neighbour that will not come); when
they all run, submissions queue until one ends, and the next batch takes them all (up to
``max_size``). Under load batches grow by themselves, at no cost in latency when idle.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

I = TypeVar("I")  # noqa: E741  (an item)
O = TypeVar("O")  # noqa: E741  (its result)


class Batcher(Generic[I, O]):
    """Runs submitted items in batches on the event loop it was made on (see the module)."""

    def __init__(
        self,
        run: Callable[[Sequence[I]], Awaitable[Sequence[O]]],
        *,
        max_size: int = 64,
        in_flight: int = 2,
    ) -> None:
        self._run = run
        self._max_size = max_size
        self._in_flight_limit = in_flight
        self._in_flight = 0
        self._pending: list[tuple[I, asyncio.Future[O]]] = []
        self._scheduled = False
        #: The batches running, referenced until they end (asyncio keeps only weak references).
        self._tasks: set[asyncio.Task[None]] = set()
        self.loop = asyncio.get_running_loop()

    @property
    def busy(self) -> int:
        """Batches running and items waiting for one."""
        return self._in_flight + len(self._pending)

    async def submit(self, item: I) -> O:
        """``item``'s result, computed in a batch with the items submitted around it. A waiter
        cancelled meanwhile does not stop its batch: the others' results do not depend on it."""
        future: asyncio.Future[O] = self.loop.create_future()
        self._pending.append((item, future))
        self._schedule()
        return await future

    def _schedule(self) -> None:
        if self._scheduled or not self._pending or self._in_flight >= self._in_flight_limit:
            return
        self._scheduled = True
        self.loop.call_soon(self._start)

    def _start(self) -> None:
        self._scheduled = False
        if not self._pending or self._in_flight >= self._in_flight_limit:
            return
        batch = self._pending[: self._max_size]
        del self._pending[: self._max_size]
        self._in_flight += 1
        task = self.loop.create_task(self._run_batch(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_batch(self, batch: list[tuple[I, asyncio.Future[O]]]) -> None:
        try:
            results = await self._run([item for item, _ in batch])
        except BaseException as exc:
            for _, future in batch:
                if not future.done():
                    if isinstance(exc, Exception):
                        future.set_exception(exc)
                    else:  # the loop is shutting down: its waiters with it
                        future.cancel()
            if not isinstance(exc, Exception):
                raise
        else:
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
        finally:
            self._in_flight -= 1
            self._schedule()
