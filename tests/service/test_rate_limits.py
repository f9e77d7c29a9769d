"""Per-key rate limits counted in Redis a lease of hits at a time (service/api/limits.py): exact for small limits,
never over the limit across processes, at most a lease per process early, and a spent window refused without
asking Redis again."""

import time
import uuid

import pytest
from redis import Redis

from service.api.limits import LEASE_SHARE, RateLimiter


@pytest.fixture
def redis(redis_url):
    client = Redis.from_url(redis_url)
    yield client
    client.close()


def ask(limiter: RateLimiter, key: str, limit: int, window_s: int = 60) -> bool:
    """One request, as service.api.deps.rate_limit makes it: the lease first, Redis when it has no answer."""
    answer = limiter.local("generate", key) or limiter.hit("generate", key, limit, window_s)
    return answer[0]


def counted(redis: Redis, key: str) -> int:
    return int(redis.get(f"gf:rate:generate:{key}") or 0)


def test_a_small_limit_is_counted_exactly_and_a_spent_window_is_refused_locally(redis):
    limiter, key = RateLimiter(redis), uuid.uuid4().hex
    assert [ask(limiter, key, 5) for _ in range(8)] == [True] * 5 + [False] * 3
    assert counted(redis, key) == 6  # five hits and the one refused; the next two were refused without Redis
    allowed, retry_after = limiter.local("generate", key)
    assert not allowed and 1 <= retry_after <= 60


def test_a_large_limit_is_taken_in_leases_and_never_exceeded(redis):
    limiter, key, limit = RateLimiter(redis), uuid.uuid4().hex, 1000
    lease = int(limit * LEASE_SHARE)
    assert ask(limiter, key, limit) and counted(redis, key) == lease  # one Redis call for the lease's hits
    allowed = 1 + sum(ask(limiter, key, limit) for _ in range(limit + 50))
    assert allowed == limit  # one process uses every hit it leased


def test_leases_taken_side_by_side_are_all_used(redis):
    limiter, key, limit = RateLimiter(redis), uuid.uuid4().hex, 1000
    racing = sum(limiter.hit("generate", key, limit)[0] for _ in range(5))  # five requests that found no hits left
    assert racing == 5 and counted(redis, key) == 5 * int(limit * LEASE_SHARE)
    assert racing + sum(ask(limiter, key, limit) for _ in range(limit)) == limit  # none of the leased hits is lost


def test_processes_share_one_limit(redis):
    key, limit, processes = uuid.uuid4().hex, 1000, 2
    limiters = [RateLimiter(redis, processes=processes) for _ in range(processes)]
    allowed = sum(ask(limiters[i % processes], key, limit) for i in range(limit + 100))
    lease = int(limit * LEASE_SHARE / processes)
    assert limit - processes * lease <= allowed <= limit


def test_a_new_window_allows_again(redis):
    limiter, key = RateLimiter(redis), uuid.uuid4().hex
    assert [ask(limiter, key, 2, window_s=1) for _ in range(3)] == [True, True, False]
    time.sleep(1.1)
    assert ask(limiter, key, 2, window_s=1)
