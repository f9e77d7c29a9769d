"""While Redis cannot be reached, every request that needs it is answered 503 with Retry-After within a second
or so: those that arrive, and those already waiting on Redis.

Timeouts alone cannot promise that: a request blocked on a frozen Redis waits out its socket timeout, its
retry and the next call's, holding a thread of the pool the whole time, and under load later requests queue
behind those threads. So a watchdog pings Redis (on the async client, needing no thread) every PING_EVERY_S;
after FAILURES_TO_TRIP pings in a row without an answer within PING_TIMEOUT_S, or at once when a route meets a
Redis error, Redis counts as down. Then a request is refused before it reaches a route, and one in flight that
has not started its response is answered at once (its route finishes in the background, unheard). The first
answered ping brings everything back. Pages that never touch Redis (liveness, metrics, the dashboard's files,
the docs) are left alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.problems import REDIS_RETRY_AFTER_S, REDIS_UNREACHABLE, problem_json

log = logging.getLogger("ganforge.api")
PING_EVERY_S = 0.2
PING_TIMEOUT_S = 0.5
FAILURES_TO_TRIP = 2  # one slow answer (a fork, an fsync) is no outage
_WITHOUT_REDIS = ("/healthz", "/metrics", "/ui", "/docs", "/docs-assets", "/redoc", "/openapi.json")


class RedisOutage:
    def __init__(self, redis: AsyncRedis):
        self.redis = redis
        self.down = False
        self.waiting: set[asyncio.Future] = set()  # one per request in flight: resolved when Redis goes down
        self._watchdog: asyncio.Task | None = None
        self._closing = False

    def start(self) -> None:
        self._watchdog = asyncio.get_running_loop().create_task(self._watch(), name="redis watchdog")

    def noticed(self) -> None:
        """A route met a Redis error (called on the event loop): down until the next answered ping."""
        self._trip()

    def _trip(self) -> None:
        if not self.down:
            log.warning("Redis does not answer: requests that need it get 503 until it does")
            self.down = True
            for gate in self.waiting:
                if not gate.done():
                    gate.set_result(None)

    async def _watch(self) -> None:
        failures = 0
        while not self._closing:
            try:
                async with asyncio.timeout(PING_TIMEOUT_S):
                    await self.redis.ping()
            except (RedisError, OSError, TimeoutError):
                failures += 1
                if failures >= FAILURES_TO_TRIP:
                    self._trip()
            else:
                failures = 0
                if self.down:
                    log.info("Redis answers again")
                    self.down = False
            await asyncio.sleep(PING_EVERY_S)

    async def close(self) -> None:
        # The flag as well as the cancel: on Python 3.11 a cancel that meets asyncio.timeout's own expiry can come
        # out as the TimeoutError the loop goes on after (seen: a shutdown that never ended).
        self._closing = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            await asyncio.wait({self._watchdog}, timeout=PING_EVERY_S + PING_TIMEOUT_S + 1)


class FailFastWhileRedisIsDown:
    def __init__(self, app: ASGIApp, outage: Callable[[], RedisOutage | None]):
        self.app, self.outage = app, outage
        self._unheard: set[asyncio.Task] = set()  # routes answered for while they still ran

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        outage = self.outage() if scope["type"] == "http" and not _without_redis(scope["path"]) else None
        if outage is None:
            await self.app(scope, receive, send)
            return
        if outage.down:
            await _refuse(scope, receive, send)
            return
        started, cut_off = False, False

        async def send_unless_cut_off(message: Message) -> None:
            nonlocal started
            if cut_off:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        loop = asyncio.get_running_loop()
        route = loop.create_task(self.app(scope, receive, send_unless_cut_off))
        gate = loop.create_future()  # resolved by the route's end or by the outage, whichever comes first
        route.add_done_callback(lambda _: gate.done() or gate.set_result(None))
        outage.waiting.add(gate)
        try:
            await gate
        except asyncio.CancelledError:
            route.cancel()
            raise
        finally:
            outage.waiting.discard(gate)
        if route.done() or started:
            await route  # its own answer (a stream already under way ends by itself)
            return
        cut_off = True
        self._unheard.add(route)
        route.add_done_callback(self._forget)
        await _refuse(scope, receive, send)

    def _forget(self, route: asyncio.Future) -> None:
        self._unheard.discard(route)
        if not route.cancelled() and route.exception() is not None:
            log.info("a request answered 503 during a Redis outage ended with %r", route.exception())


async def _refuse(scope: Scope, receive: Receive, send: Send) -> None:
    refusal = problem_json(503, REDIS_UNREACHABLE, scope["path"], {"Retry-After": str(REDIS_RETRY_AFTER_S)})
    await refusal(scope, receive, send)


def _without_redis(path: str) -> bool:
    return path == "/" or any(path == prefix or path.startswith(prefix + "/") for prefix in _WITHOUT_REDIS)
