"""Server-Sent Events from Redis streams: a job's events, or every job's status changes, as they happen.

Each SSE id is the Redis stream id, so a client that reconnects with `Last-Event-ID` (EventSource does
by itself) gets exactly the events it missed, none twice. A comment line every `heartbeat_s` keeps
proxies from closing an idle stream. A job's stream ends after its terminal status. Live entries come from
the process's StreamHub: one Redis reader per key, however many clients follow it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

from fastapi import Request
from fastapi.responses import StreamingResponse
from redis.exceptions import RedisError

from service.api.problems import Problem
from service.api.stream_hub import HEARTBEAT, HubFull, StreamHub, backlog

SSE = "text/event-stream"
RECONNECT_MS = 2000
RETRY_FULL_S = 5


def wants_stream(request: Request) -> bool:
    return SSE in request.headers.get("accept", "")


def frame(event: dict) -> str:
    return f"id: {event['id']}\nevent: {event['event']}\ndata: {json.dumps(event['data'], separators=(',', ':'))}\n\n"


async def follow(hub: StreamHub, key: str, after: str, decode: Callable[[bytes, dict], dict],
                 is_last: Callable[[dict], bool] = lambda event: False,
                 already_over: bool = False) -> AsyncIterator[str]:
    """The stream's entries after the stream id `after`, then new ones as they are added (through the
    process's one reader of `key`).
    `already_over`: nothing more will come (a finished job), so stop once the backlog is sent."""
    yield f"retry: {RECONNECT_MS}\n\n"
    entries = backlog(hub.redis, key, after) if already_over else hub.follow(key, after)
    try:
        async for entry in entries:
            if entry is HEARTBEAT:
                yield ": keep-alive\n\n"
                continue
            event = decode(*entry)
            yield frame(event)
            if is_last(event):
                return
    except RedisError:
        return  # the client reconnects (retry:) with Last-Event-ID once Redis is back
    finally:
        await entries.aclose()


async def open_stream(hub: StreamHub, key: str, after: str, decode: Callable[[bytes, dict], dict],
                      is_last: Callable[[dict], bool] = lambda event: False,
                      already_over: bool = False) -> StreamingResponse:
    """The SSE response of the entries after `after` ("-": from the start; "$": none of those there now),
    or a 503 with Retry-After when this process follows as many streams as it may."""
    if not already_over:
        try:
            hub.check_room(key)
        except HubFull as full:
            raise Problem(503, f"{full}; try again shortly", headers={"Retry-After": str(RETRY_FULL_S)}) from None
    # "$" is fixed before the response starts: what a client sees after its 200 is never skipped. The read is
    # made for every stream, so that one opened during a Redis outage is a 503, not a 200 that stalls.
    last = await hub.last_id(key)
    after = "0-0" if after == "-" else last if after == "$" else after
    return response(follow(hub, key, after, decode, is_last, already_over))


def response(events: AsyncIterator[str]) -> StreamingResponse:
    # no-cache and no proxy buffering: each event should reach the browser when it happens
    return StreamingResponse(events, media_type=SSE, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def start_after(request: Request, after: str) -> str:
    """Where a stream starts: after Last-Event-ID (sent by a reconnecting EventSource), else after `after`."""
    last = request.headers.get("last-event-id", "")
    return last if _is_stream_id(last) else after


def _is_stream_id(text: str) -> bool:  # Last-Event-ID comes from the client: only a real id is used
    first, dash, second = text.partition("-")
    return bool(dash) and first.isascii() and first.isdigit() and second.isascii() and second.isdigit() \
        and len(first) <= 19 and len(second) <= 19


STREAM_RESPONSE = {200: {"content": {SSE: {"schema": {"type": "string"}}},
                         "description": "With `Accept: text/event-stream`: the events as Server-Sent Events"}}
