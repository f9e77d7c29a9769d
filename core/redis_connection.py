"""Every Redis client is made here: from a plain `redis://` URL, or from a Sentinel URL,
`sentinel://[:password@]host1:26379,host2:26379,.../<master name>[/<db>]`, for a Redis that fails over. The
password in the URL is the data nodes'; sentinels that want one of their own get `sentinel_password`
(GANFORGE_REDIS_SENTINEL_PASSWORD).

With Sentinel, each client asks the sentinels which node is the master, and asks again whenever a connection to it
fails: after a failover, the next command reaches the promoted replica. Commands sent during the switch fail with
a ConnectionError (the API answers them 503) and the callers' own retries carry on. Celery's broker gets the same
sentinels in kombu's form (`sentinel://h1:26379;sentinel://h2:26379` with the master's name as a transport option).

Redis Cluster is not supported: kombu's Redis transport keeps a queue's messages, the unacked messages and their
index under keys that Cluster would hash to different slots, writes them together in MULTI transactions and waits
on several queues in one BRPOP, which Cluster refuses across slots; our registry's Lua scripts likewise touch a
job's hash, the status sets and the event stream in one step."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.sentinel import Sentinel

SCHEME = "sentinel"


@dataclass(frozen=True)
class SentinelTarget:
    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int
    password: str | None


def parse_sentinel_url(url: str) -> SentinelTarget | None:
    """The sentinels, master name, database and password a `sentinel://` URL names; None for any other URL."""
    parts = urlsplit(url)
    if parts.scheme != SCHEME:
        return None
    credentials, _, hosts = parts.netloc.rpartition("@")
    password = unquote(credentials.partition(":")[2]) if credentials else None
    sentinels = []
    for host in filter(None, hosts.split(",")):
        name, _, port = host.rpartition(":") if ":" in host else (host, "", "26379")
        sentinels.append((name, int(port)))
    path = [piece for piece in parts.path.split("/") if piece]
    if not sentinels or not path or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        raise ValueError(f"a Sentinel URL looks like sentinel://host1:26379,host2:26379/<master name>[/<db>]; "
                         f"got {url!r}")
    return SentinelTarget(tuple(sentinels), path[0], int(path[1]) if len(path) == 2 else 0, password or None)


def connect(url: str, sentinel_password: str | None = None, **options) -> Redis:
    """A client of the master: `options` are redis-py connection options (timeouts, health checks)."""
    return _client(url, sentinel_password, options, Redis, Sentinel)


def connect_async(url: str, sentinel_password: str | None = None, **options) -> AsyncRedis:
    """The asyncio client of the master (the API's event streams)."""
    return _client(url, sentinel_password, options, AsyncRedis, AsyncSentinel)


def _client(url: str, sentinel_password: str | None, options: dict, plain: type, sentinels: type):
    target = parse_sentinel_url(url)
    if target is None:
        return plain.from_url(url, **options)
    sentinel = sentinels(list(target.sentinels), sentinel_kwargs=_sentinel_options(options, sentinel_password),
                         **options)
    return sentinel.master_for(target.master, db=target.db, password=target.password)


def celery_broker(url: str, sentinel_password: str | None = None) -> tuple[str, dict]:
    """Celery's broker URL and the transport options it needs beside it."""
    target = parse_sentinel_url(url)
    if target is None:
        return url, {}
    auth = f":{quote(target.password, safe='')}@" if target.password else ""
    broker = ";".join(f"sentinel://{auth}{host}:{port}/{target.db}" for host, port in target.sentinels)
    options = {"master_name": target.master}
    if sentinel_password:  # kombu hands these to redis-py's Sentinel for its connections to the sentinels
        options["sentinel_kwargs"] = {"password": sentinel_password}
    return broker, options


def _sentinel_options(options: dict, password: str | None) -> dict:
    """The sentinels themselves answer fast or not at all: the same timeouts, and their own password if any."""
    chosen = {key: options[key] for key in ("socket_timeout", "socket_connect_timeout") if key in options}
    return {**chosen, "password": password} if password else chosen
