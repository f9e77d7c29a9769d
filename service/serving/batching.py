"""Dynamic batching: concurrent requests for one generator share one forward pass.

A request joins its model's queue; a collector takes the queued requests in order, up to a batch of
`max_images`, waiting at most `max_wait_s` for more to arrive, runs them as one batch off the event
loop, and hands each caller its own rows. While one batch runs, the next fills up, so under load the
batches grow by themselves and throughput approaches the generator's raw batched speed (the shape of
Triton's `max_queue_delay` and Ray Serve's `batch_wait_timeout_s`).

A request may bring its own `prepare` (decode an upload into inputs) and `finish` (encode its outputs): both run
in the batch's worker thread, so a request costs no thread hop of its own, only its share of one hop per batch.
Under load that is what keeps the batches growing: with a hop per request, 32 clients put 32 decodes and encodes
in the thread pool beside the forward, which then waits for the GIL behind them while the batches shrink
(docs/benchmarks.md, issue 33). A failure in one request's prepare or finish fails that request only.

Conditioning values that are not tensors (a translation's direction) hold for a whole forward: requests that differ
in them, or in their inputs' shape, share the batch's thread but run as separate forwards. So what selects the
forward can be learnt in `prepare`, from the parsed request, in the batch's thread.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from starlette.concurrency import run_in_threadpool

from models.sampling import Conditioning

Prepare = Callable[[], tuple[torch.Tensor, Conditioning]]
Finish = Callable[[torch.Tensor], Any]
Forward = Callable[[torch.Tensor, Conditioning], torch.Tensor]
_Prepared = tuple[int, torch.Tensor, Conditioning]  # (the request's place in its batch, its inputs, its conditioning)


@dataclass
class _Waiting:
    prepare: Prepare
    finish: Finish | None
    size: int  # images it asks for, as far as is known before `prepare` (an upload counts as one)
    future: asyncio.Future


class Batcher:
    def __init__(self, forward: Forward, max_images: int, max_wait_s: float, on_batch: Callable[[int], None]):
        self.forward, self.max_images, self.max_wait_s, self.on_batch = forward, max_images, max_wait_s, on_batch
        self._queue: deque[_Waiting] = deque()
        self._arrived = asyncio.Event()
        self._collector: asyncio.Task | None = None

    async def __call__(self, latents: torch.Tensor, conditioning: Conditioning) -> torch.Tensor:
        """This request's outputs, computed together with whatever else is queued for the model."""
        return await self.submit(lambda: (latents, conditioning), None, latents.shape[0])

    async def submit(self, prepare: Prepare, finish: Finish | None = None, size: int = 1) -> Any:
        """`finish(outputs)` (or the outputs) of the inputs `prepare()` makes; both run in the batch's thread."""
        waiting = _Waiting(prepare, finish, size, asyncio.get_running_loop().create_future())
        self._queue.append(waiting)
        self._arrived.set()
        if self._collector is None or self._collector.done():
            self._collector = asyncio.create_task(self._collect())
        return await waiting.future

    @property
    def queued(self) -> int:
        """Requests waiting for a batch (not those in the batch that runs)."""
        return len(self._queue)

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
            outcomes = await run_in_threadpool(self._run_together, batch)
        except Exception as exc:
            outcomes = [(None, exc)] * len(batch)
        for waiting, (result, error) in zip(batch, outcomes, strict=True):
            if waiting.future.done():
                continue
            if error is not None:
                waiting.future.set_exception(error)
            else:
                waiting.future.set_result(result)

    def _run_together(self, batch: list[_Waiting]) -> list[tuple[Any, BaseException | None]]:
        """Each request's (result, None) or (None, its error): prepare each, one forward per group of them that can
        share one (usually all), finish each."""
        outcomes: list[tuple[Any, BaseException | None]] = [(None, None)] * len(batch)
        prepared: list[_Prepared] = []
        for i, waiting in enumerate(batch):
            try:
                prepared.append((i, *waiting.prepare()))
            except Exception as exc:
                outcomes[i] = (None, exc)
        for group in _groups(prepared):
            try:
                outputs = self._forward_together([(inputs, conditioning) for _, inputs, conditioning in group])
            except Exception as exc:  # every request of the forward learns what went wrong
                for i, _, _ in group:
                    outcomes[i] = (None, exc)
                continue
            for (i, _, _), output in zip(group, outputs, strict=True):
                finish = batch[i].finish
                try:
                    outcomes[i] = (finish(output) if finish else output, None)
                except Exception as exc:
                    outcomes[i] = (None, exc)
        return outcomes

    def _forward_together(self, requests: list[tuple[torch.Tensor, Conditioning]]) -> list[torch.Tensor]:
        self.on_batch(sum(inputs.shape[0] for inputs, _ in requests))
        if len(requests) == 1:  # served alone: exactly the computation of an unbatched request
            return [self.forward(*requests[0])]
        together = torch.cat([inputs for inputs, _ in requests])
        first = requests[0][1]
        conditioning = {name: torch.cat([c[name] for _, c in requests]) if isinstance(value, torch.Tensor) else value
                        for name, value in first.items()}
        return list(self.forward(together, conditioning).split([inputs.shape[0] for inputs, _ in requests]))

    def _queued_images(self) -> int:
        return sum(w.size for w in self._queue)


def _groups(prepared: list[_Prepared]) -> list[list[_Prepared]]:
    """The prepared requests by what one forward needs them to share, in order of arrival."""
    groups: dict[tuple, list[_Prepared]] = {}
    for request in prepared:
        _, inputs, conditioning = request
        shared = tuple(sorted((name, value if not isinstance(value, torch.Tensor) else None)
                              for name, value in conditioning.items()))
        groups.setdefault((tuple(inputs.shape[1:]), shared), []).append(request)
    return list(groups.values())
