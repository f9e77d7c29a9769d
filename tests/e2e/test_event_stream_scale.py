"""Event streams at scale, against a real API process and Redis: streams past redis-py's default pool of 100
share one Redis reader, every one gets each event, a stream past the cap is refused with 503 + Retry-After
(never an empty 200 that makes EventSource reconnect forever), and a client that leaves frees its slot at once."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from redis import Redis

from service.api.stream_hub import BACKLOG_READERS
from service.cli.processes import env_for, start_api, stop

pytestmark = pytest.mark.e2e
SSE = {"Accept": "text/event-stream"}
CAP = 150  # above redis-py's default pool size of 100, where streams used to end silently


@pytest.fixture
def capped_api(settings, tmp_path):
    process, url = start_api(env_for(settings.redis_url, settings.data_dir, GANFORGE_MAX_EVENT_STREAMS=str(CAP),
                                     GANFORGE_SSE_HEARTBEAT_S="1"), tmp_path / "api.log")
    yield url
    stop(process)


async def _open(http: httpx.AsyncClient, path: str) -> tuple[httpx.Response, object]:
    response = await http.send(http.build_request("GET", path, headers=SSE), stream=True)
    lines = response.aiter_lines()
    if response.status_code == 200:
        assert (await anext(lines)).startswith("retry:")
    return response, lines


async def _next_event(lines) -> dict:
    data = None
    async for line in lines:
        if line.startswith("data: "):
            data = json.loads(line[6:])
        elif line == "" and data is not None:
            return data


def _connected_clients(redis_url: str) -> int:
    with Redis.from_url(redis_url) as redis:
        return redis.info("clients")["connected_clients"]


def test_streams_past_the_pool_share_one_reader_get_every_event_and_past_the_cap_get_503(
        capped_api, settings, client):
    async def scenario():
        limits = httpx.Limits(max_connections=CAP + 50, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=capped_api, timeout=60, limits=limits) as http:
            before = _connected_clients(settings.redis_url)
            streams = await asyncio.gather(*(_open(http, "/v1/events?after=$") for _ in range(CAP)))
            assert [r.status_code for r, _ in streams] == [200] * CAP
            # One reader for the key plus the bounded backlog readers, whatever the number of listeners (a little
            # slack for other processes).
            assert _connected_clients(settings.redis_url) - before <= 1 + BACKLOG_READERS + 2

            refused, _ = await _open(http, "/v1/events?after=$")
            assert refused.status_code == 503
            assert refused.headers["content-type"] == "application/problem+json"
            assert int(refused.headers["retry-after"]) > 0
            assert "event streams" in json.loads(await refused.aread())["detail"]

            job = client.post("/v1/jobs", json={"dataset": "ring8", "model": {"arch": "mlp"}, "train": {"epochs": 1}})
            assert job.status_code == 202, job.text
            firsts = await asyncio.wait_for(asyncio.gather(*(_next_event(lines) for _, lines in streams)), 30)
            assert all(event == {"job": job.json()["id"], "status": "queued"} for event in firsts), firsts[:3]
            client.post(f"/v1/jobs/{job.json()['id']}/cancel")

            for response, _ in streams[:20]:  # twenty clients leave...
                await response.aclose()
            for _ in range(20):  # ...and their slots are free at once, not after a heartbeat
                for _attempt in range(20):
                    response, lines = await _open(http, "/v1/events?after=$")
                    if response.status_code == 200:
                        break
                    await response.aclose()
                    await asyncio.sleep(0.05)
                assert response.status_code == 200
                streams.append((response, lines))  # held: a collected line iterator closes its stream
            metrics = (await http.get("/metrics")).text
            gauges = dict(line.split() for line in metrics.splitlines() if line.startswith("ganforge_event_stream"))
            assert gauges == {"ganforge_event_streams": f"{float(CAP)}", "ganforge_event_stream_readers": "1.0"}
            for response, _ in streams[20:]:
                await response.aclose()

    asyncio.run(scenario())
