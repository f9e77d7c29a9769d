"""Dynamic batching: concurrent requests for one generator share one forward pass.

A request joins its model's queue; a collector takes the queued requests in order, up to a batch of
`max_images`, waiting at most `max_wait_s` for more to arrive, runs them as one batch off the event
loop, and hands each caller its own rows. While one batch runs, the next fills up, so under load the
batches grow by themselves and throughput approaches the generator's raw batched speed (the shape of
Triton's `max_queue_delay` and Ray Serve's `batch_wait_timeout_s`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import torch
from starlette.concurrency import run_in_threadpool

from models.sampling import Conditioning


@dataclass
class _Waiting:
    latents: torch.Tensor
    conditioning: Conditioning
    future: asyncio.Future

    @property
    def size(self) -> int:
        return self.latents.shape[0]


Forward = Callable[[torch.Tensor, Conditioning], torch.Tensor]


class Batcher:
    def __init__(self, forward: Forward, max_images: int, max_wait_s: float, on_batch: Callable[[int], None]):
        self.forward, self.max_images, self.max_wait_s, self.on_batch = forward, max_images, max_wait_s, on_batch
        self._queue: deque[_Waiting] = deque()
        self._arrived = asyncio.Event()
        self._collector: asyncio.Task | None = None

    async def __call__(self, latents: torch.Tensor, conditioning: Conditioning) -> torch.Tensor:
        """This request's outputs, computed together with whatever else is queued for the model."""
        waiting = _Waiting(latents, conditioning, asyncio.get_running_loop().create_future())
        self._queue.append(waiting)
        self._arrived.set()
        if self._collector is None or self._collector.done():
            self._collector = asyncio.create_task(self._collect())
        return await waiting.future

    async def _collect(self) -> None:
        while self._queue:
            await self._wait_for_company()
            batch = self._take()
            if batch:
                await self._run(batch)

    async def _wait_for_company(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait_s
        while self._queued_images() < self.max_images and (remaining := deadline - loop.time()) > 0:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                return

    def _take(self) -> list[_Waiting]:
        """The oldest requests that fit in one batch (at least one, however large: it runs alone)."""
        batch, images = [], 0
        while self._queue and (not batch or images + self._queue[0].size <= self.max_images):
            waiting = self._queue.popleft()
            if waiting.future.done():  # its caller went away
                continue
            batch.append(waiting)
            images += waiting.size
        return batch

    async def _run(self, batch: list[_Waiting]) -> None:
        try:
            outputs = await run_in_threadpool(self._forward_together, batch)
        except Exception as exc:  # every caller of the batch learns what went wrong
            for waiting in batch:
                if not waiting.future.done():
                    waiting.future.set_exception(exc)
            return
        for waiting, output in zip(batch, outputs, strict=True):
            if not waiting.future.done():
                waiting.future.set_result(output)

    def _forward_together(self, batch: list[_Waiting]) -> list[torch.Tensor]:
        self.on_batch(sum(w.size for w in batch))
        if len(batch) == 1:  # served alone: exactly the computation of an unbatched request
            return [self.forward(batch[0].latents, batch[0].conditioning)]
        latents = torch.cat([w.latents for w in batch])
        conditioning = {name: torch.cat([w.conditioning[name] for w in batch]) for name in batch[0].conditioning}
        return list(self.forward(latents, conditioning).split([w.size for w in batch]))

    def _queued_images(self) -> int:
        return sum(w.size for w in self._queue)
