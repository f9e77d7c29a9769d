"""docker compose cannot run here, so check what it would run: every command is a real CLI command."""

from pathlib import Path

import pytest
import yaml

from service.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_runs_redis_api_and_worker_on_shared_volumes():
    services = compose()["services"]
    assert {"redis", "api", "worker"} <= set(services)
    assert "--appendonly" in services["redis"]["command"] and "noeviction" in services["redis"]["command"]
    for name in ("api", "worker"):
        assert "artifacts:/data" in services[name]["volumes"]
        assert services[name]["environment"]["GANFORGE_REDIS_URL"].startswith("redis://redis:")


def test_compose_serves_beyond_loopback_only_with_api_keys():
    api = compose()["services"]["api"]["environment"]
    assert api["GANFORGE_HOST"] == "0.0.0.0" and "GANFORGE_API_KEYS" in api


@pytest.mark.parametrize("service", ["api", "worker"])
def test_each_ganforge_service_runs_a_real_cli_command(service):
    command = compose()["services"][service]["command"]
    assert command[0] == "ganforge"
    args = build_parser().parse_args(command[1:])  # exits (fails the test) on an unknown command or flag
    assert args.command == service


def test_dockerfile_installs_the_package_and_runs_the_cli():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["ganforge", "api"]' in dockerfile and "pip install ." in dockerfile
    assert build_parser().parse_args(["api"]).command == "api"


def test_the_api_is_healthy_when_ready_and_the_gpu_file_reserves_gpus_for_the_worker():
    assert "/readyz" in " ".join(compose()["services"]["api"]["healthcheck"]["test"])
    worker_check = compose()["services"]["worker"]["healthcheck"]["test"]
    assert worker_check[:2] == ["CMD", "ganforge"] and build_parser().parse_args(worker_check[2:]).this_host
    gpu = yaml.safe_load((ROOT / "docker-compose.gpu.yml").read_text())["services"]["worker"]
    [device] = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert gpu["environment"]["GANFORGE_DEVICE"] == "cuda"
