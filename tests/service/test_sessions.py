"""Sessions on a real Redis: open until signed out, expired, or their key removed or rotated."""

import secrets
import time

import pytest
from redis import Redis

from core.settings import ApiKeyConfig
from service.api import sessions
from service.api.auth import Principal

KEY = ApiKeyConfig(name="alice", sha256="a" * 64, scope="train")


@pytest.fixture
def redis(redis_url):
    client = Redis.from_url(redis_url)
    yield client
    client.close()


def test_a_session_stands_for_its_key_until_it_is_revoked(redis):
    token, expires = sessions.issue(redis, KEY)
    assert abs(expires - (time.time() + sessions.TTL_S)) < 5
    assert sessions.find(redis, token, [KEY]) == Principal("alice", "train")
    sessions.revoke(redis, token)
    assert sessions.find(redis, token, [KEY]) is None
    sessions.revoke(redis, token)  # signing out twice is harmless


def test_the_record_expires_with_the_session(redis):
    token, _ = sessions.issue(redis, KEY)
    assert sessions.TTL_S - 5 <= redis.ttl(sessions.record_key(token)) <= sessions.TTL_S
    redis.pexpire(sessions.record_key(token), 1)  # twelve hours pass
    time.sleep(0.05)
    assert sessions.find(redis, token, [KEY]) is None


def test_a_removed_or_rotated_key_ends_its_sessions_and_the_scope_is_the_configurations(redis):
    token, _ = sessions.issue(redis, KEY)
    assert sessions.find(redis, token, []) is None
    assert sessions.find(redis, token, [KEY.model_copy(update={"sha256": "b" * 64})]) is None
    promoted = KEY.model_copy(update={"scope": "admin"})
    assert sessions.find(redis, token, [promoted]) == Principal("alice", "admin")


def test_a_made_up_or_altered_token_is_refused(redis):
    token, _ = sessions.issue(redis, KEY)
    altered = token[:-1] + ("A" if token[-1] != "A" else "B")
    old_style = "YWxpY2U6YWFhYTox.0123abcd"  # a signed token from before sessions lived in Redis
    for forged in (secrets.token_urlsafe(32), altered, token + "x", token[:-1], "", old_style, "../" * 15):
        assert sessions.find(redis, forged, [KEY]) is None, forged


def test_redis_holds_no_token_that_would_work_as_a_cookie(redis):
    token, _ = sessions.issue(redis, KEY)
    stored = sessions.record_key(token)
    assert token not in stored and token.encode() not in redis.get(stored)


def test_the_cookie_is_found_among_others_and_bad_headers_are_ignored():
    assert sessions.from_cookie_header(b"theme=dark; ganforge_session=abc.def; x=1") == "abc.def"
    assert sessions.from_cookie_header(b"theme=dark") is None
    assert sessions.from_cookie_header(b'ganforge_session="unterminated') is None
