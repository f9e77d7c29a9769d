"""Server-Sent Events from Redis streams: a job's events, or every job's status changes, as they happen.

Each SSE id is the Redis stream id, so a client that reconnects with `Last-Event-ID` (EventSource does
by itself) gets exactly the events it missed, none twice. A comment line every `heartbeat_s` keeps
proxies from closing an idle stream. A job's stream ends after its terminal status.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

from fastapi import Request
from fastapi.responses import StreamingResponse
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import RedisError

SSE = "text/event-stream"
RECONNECT_MS = 2000


def wants_stream(request: Request) -> bool:
    return SSE in request.headers.get("accept", "")


def frame(event: dict) -> str:
    return f"id: {event['id']}\nevent: {event['event']}\ndata: {json.dumps(event['data'], separators=(',', ':'))}\n\n"


async def follow(redis: AsyncRedis, key: str, after: str, decode: Callable[[bytes, dict], dict],
                 heartbeat_s: float, is_last: Callable[[dict], bool] = lambda event: False,
                 already_over: bool = False) -> AsyncIterator[str]:
    """The stream's entries after `after` ("-": from the start; "$": none of those already there), then new
    ones as they are added.
    `already_over`: nothing more will come (a finished job), so stop once the backlog is sent."""
    yield f"retry: {RECONNECT_MS}\n\n"
    cursor = "0-0" if after == "-" else after
    while True:
        try:
            rows = await redis.xread({key: cursor}, count=100, block=None if already_over else int(heartbeat_s * 1000))
        except RedisError:
            return  # the client reconnects (retry:) with Last-Event-ID once Redis is back
        if not rows:
            if already_over:
                return
            yield ": keep-alive\n\n"
            continue
        for stream_id, fields in rows[0][1]:
            cursor = stream_id.decode()
            event = decode(stream_id, fields)
            yield frame(event)
            if is_last(event):
                return


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
