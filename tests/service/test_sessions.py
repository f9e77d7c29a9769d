"""Session tokens: signed, expiring, and ended by removing or rotating their key."""

from core.settings import ApiKeyConfig
from service.api import sessions
from service.api.auth import Principal

KEY = ApiKeyConfig(name="alice", sha256="a" * 64, scope="train")
SECRET = b"s" * 32


def test_a_token_names_its_key_until_it_expires():
    token, expires = sessions.issue(KEY, SECRET, now=1000)
    assert expires == 1000 + sessions.TTL_S
    assert sessions.verify(token, [KEY], SECRET, now=expires - 1) == Principal("alice", "train")
    assert sessions.verify(token, [KEY], SECRET, now=expires + 1) is None


def test_a_token_is_refused_with_another_secret_a_removed_or_rotated_key_or_any_change():
    token, _ = sessions.issue(KEY, SECRET, now=1000)
    assert sessions.verify(token, [KEY], b"x" * 32, now=1000) is None
    assert sessions.verify(token, [], SECRET, now=1000) is None
    assert sessions.verify(token, [KEY.model_copy(update={"sha256": "b" * 64})], SECRET, now=1000) is None
    promoted = KEY.model_copy(update={"scope": "admin"})
    assert sessions.verify(token, [promoted], SECRET, now=1000) == Principal("alice", "admin")  # scope: the config's
    for broken in (token[:-1] + "0", "x" + token, token.split(".")[0], "", "..", "%%%.abc"):
        assert sessions.verify(broken, [KEY], SECRET, now=1000) is None


def test_the_cookie_is_found_among_others_and_bad_headers_are_ignored():
    assert sessions.from_cookie_header(b"theme=dark; ganforge_session=abc.def; x=1") == "abc.def"
    assert sessions.from_cookie_header(b"theme=dark") is None
    assert sessions.from_cookie_header(b'ganforge_session="unterminated') is None
