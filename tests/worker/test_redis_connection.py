"""Sentinel URLs: what they name, and what Celery's broker is told."""

import pytest
from kombu.utils.url import url_to_parts
from redis.sentinel import SentinelConnectionPool

from core.redis_connection import celery_broker, connect, parse_sentinel_url


def test_a_sentinel_url_names_its_sentinels_master_database_and_password():
    target = parse_sentinel_url("sentinel://:s3cret@h1:26379,h2:26380,h3/mymaster/2")
    assert target.sentinels == (("h1", 26379), ("h2", 26380), ("h3", 26379))
    assert (target.master, target.db, target.password) == ("mymaster", 2, "s3cret")
    assert parse_sentinel_url("sentinel://h1:26379/mymaster").db == 0
    assert parse_sentinel_url("redis://localhost:6379/0") is None


@pytest.mark.parametrize("url", ["sentinel://h1:26379", "sentinel:///mymaster", "sentinel://h1/m/x",
                                 "sentinel://h1/m/0/extra"])
def test_a_sentinel_url_without_a_master_or_with_a_bad_database_is_refused_with_its_form(url):
    with pytest.raises(ValueError, match=r"sentinel://host1:26379,host2:26379/<master name>\[/<db>\]"):
        parse_sentinel_url(url)


def test_celery_gets_kombus_form_and_the_master_name():
    broker, options = celery_broker("sentinel://:pw@h1:26379,h2:26380/mymaster/1")
    assert broker == "sentinel://:pw@h1:26379/1;sentinel://:pw@h2:26380/1"
    assert options == {"master_name": "mymaster"}
    assert celery_broker("redis://r:6379/0") == ("redis://r:6379/0", {})


def test_a_client_of_a_sentinel_url_asks_the_sentinels_for_its_master():
    client = connect("sentinel://127.0.0.1:1,127.0.0.1:2/mymaster/3", socket_timeout=0.2)
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool) and pool.service_name == "mymaster"
    assert pool.connection_kwargs["db"] == 3


def test_the_sentinels_password_goes_to_the_sentinels_and_the_urls_to_the_master():
    client = connect("sentinel://:data-pw@127.0.0.1:1/mymaster", "sentinel-pw", socket_timeout=0.2)
    sentinels = client.connection_pool.sentinel_manager.sentinels
    assert [s.connection_pool.connection_kwargs["password"] for s in sentinels] == ["sentinel-pw"]
    assert sentinels[0].connection_pool.connection_kwargs["socket_timeout"] == 0.2
    assert client.connection_pool.connection_kwargs["password"] == "data-pw"


def test_celery_gets_the_sentinels_password_as_sentinel_kwargs_and_a_quoted_data_password():
    broker, options = celery_broker("sentinel://:p%40ss%3Bw@h1:26379,h2:26380/mymaster", "sentinel-pw")
    assert options == {"master_name": "mymaster", "sentinel_kwargs": {"password": "sentinel-pw"}}
    alternatives = broker.split(";")  # kombu splits failover URLs on ';': the password must not hold one
    assert len(alternatives) == 2
    assert [url_to_parts(url).password for url in alternatives] == ["p@ss;w", "p@ss;w"]
