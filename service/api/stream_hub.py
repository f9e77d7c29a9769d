"""One Redis reader per event stream key, fanned out to every listener of it in this API process.

A thousand browsers watching one job cost one blocking XREAD, not a thousand Redis connections. A listener
first registers (so that nothing added from then on can pass it by), then reads the backlog it asked for with
short non-blocking reads, then takes what the key's reader hands it, skipping what the backlog already
gave. Past `max_listeners` streams (or `max_keys` distinct keys, each holding a connection) a new stream is
refused before it starts, so the client gets a 503 with Retry-After rather than a stream that closes at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

BATCH = 100
BACKLOG_READERS = 16  # concurrent backlog reads (short, non-blocking) per process
# A listener this far behind (a stalled client) is dropped; its EventSource reconnects with Last-Event-ID
# and catches up from the stream itself, so nothing is lost and no queue grows without bound.
MAX_QUEUED = 1000
ENDED = None  # put on a listener's queue when its key's reader stops (Redis went away)
HEARTBEAT = ()  # yielded by `follow` when nothing happened for heartbeat_s


async def backlog(redis: AsyncRedis, key: str, after: str, gate: asyncio.Semaphore | None = None):
    """The entries after `after` present now, in short non-blocking reads (each inside `gate`: a slow client
    holds no slot while it takes what was read)."""
    cursor = after
    while True:
        async with gate or contextlib.nullcontext():
            rows = await redis.xread({key: cursor}, count=BATCH)
        if not rows:
            return
        for raw_id, fields in rows[0][1]:
            cursor = raw_id
            yield raw_id, fields


class HubFull(Exception):
    """No room for another stream now."""


def stream_id(raw: bytes | str) -> tuple[int, int]:
    text = raw.decode() if isinstance(raw, bytes) else raw
    first, _, second = text.partition("-")
    return int(first), int(second or 0)


@dataclass(eq=False)
class Listener:
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)

    def offer(self, entry) -> bool:
        """Queues an entry; False when the listener fell too far behind and must go."""
        if self.queue.qsize() >= MAX_QUEUED:
            self.queue.put_nowait(ENDED)
            return False
        self.queue.put_nowait(entry)
        return True


@dataclass(eq=False)
class _Channel:
    key: str
    listeners: set[Listener] = field(default_factory=set)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    reader: asyncio.Task | None = None
    failed: bool = False


class StreamHub:
    def __init__(self, redis: AsyncRedis, max_listeners: int, max_keys: int, heartbeat_s: float,
                 command_timeout_s: float = 2.0, backlog_readers: int = BACKLOG_READERS):
        self.redis, self.max_listeners, self.max_keys, self.heartbeat_s = redis, max_listeners, max_keys, heartbeat_s
        self.command_timeout_s = command_timeout_s  # for what a route awaits before its response starts
        self._channels: dict[str, _Channel] = {}
        self._backlog = asyncio.Semaphore(backlog_readers)  # backlog reads share a bounded part of the pool

    @property
    def listeners(self) -> int:
        return sum(len(channel.listeners) for channel in self._channels.values())

    @property
    def keys(self) -> int:
        return len(self._channels)

    def check_room(self, key: str) -> None:
        if self.listeners >= self.max_listeners:
            raise HubFull(f"{self.max_listeners} event streams are open on this API process")
        if key not in self._channels and len(self._channels) >= self.max_keys:
            raise HubFull(f"{self.max_keys} different event streams are followed on this API process")

    async def last_id(self, key: str) -> str:
        """The id of the stream's newest entry ("0-0" when empty): what "$" means at this moment."""
        try:
            async with asyncio.timeout(self.command_timeout_s), self._backlog:
                last = await self.redis.xrevrange(key, count=1)
        except TimeoutError:
            raise RedisTimeoutError(f"Redis did not answer within {self.command_timeout_s} s") from None
        return last[0][0].decode() if last else "0-0"

    async def follow(self, key: str, after: str):
        """Yields (stream_id, fields) after the stream id `after` ("0-0": from the start), the backlog then live
        entries, and HEARTBEAT when nothing came for `heartbeat_s`; ends when Redis goes away.
        The route calls `check_room` first, to refuse before its response starts."""
        channel = self._channels.get(key) or self._open(key)
        listener = Listener()
        channel.listeners.add(listener)
        try:
            await channel.ready.wait()
            if channel.failed:
                return
            cursor = stream_id(after)
            async for raw_id, fields in backlog(self.redis, key, after, self._backlog):
                cursor = stream_id(raw_id)
                yield raw_id, fields
            while True:
                try:
                    entry = await asyncio.wait_for(listener.queue.get(), self.heartbeat_s)
                except TimeoutError:
                    yield HEARTBEAT
                    continue
                if entry is ENDED:
                    return
                if stream_id(entry[0]) > cursor:
                    cursor = stream_id(entry[0])
                    yield entry
        except RedisError:
            return
        finally:
            self._leave(channel, listener)

    def _open(self, key: str) -> _Channel:
        channel = self._channels[key] = _Channel(key)
        channel.reader = asyncio.create_task(self._read(channel), name=f"event reader {key}")
        return channel

    def _leave(self, channel: _Channel, listener: Listener) -> None:
        channel.listeners.discard(listener)
        if not channel.listeners and self._channels.get(channel.key) is channel:
            del self._channels[channel.key]
            channel.reader.cancel()  # frees its connection now, not at the end of its blocking read

    async def _read(self, channel: _Channel) -> None:
        try:
            # Live entries start after the stream's last id as of now: every listener registered before
            # this and reads its backlog after, so the two meet with nothing in between.
            last = await self.redis.xrevrange(channel.key, count=1)
            cursor = last[0][0] if last else b"0-0"
            channel.ready.set()
            while True:
                rows = await self.redis.xread({channel.key: cursor}, count=BATCH, block=int(self.heartbeat_s * 1000))
                for raw_id, fields in rows[0][1] if rows else ():
                    cursor = raw_id
                    for listener in list(channel.listeners):
                        if not listener.offer((raw_id, fields)):
                            channel.listeners.discard(listener)
        except RedisError:
            channel.failed = True
            channel.ready.set()
            for listener in channel.listeners:
                listener.queue.put_nowait(ENDED)
            if self._channels.get(channel.key) is channel:
                del self._channels[channel.key]

    async def close(self) -> None:
        for channel in list(self._channels.values()):
            channel.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, RedisError):
                await channel.reader
        self._channels.clear()
