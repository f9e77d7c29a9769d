"""docker compose cannot run here, so check what it would run: every command is a real CLI command, every setting
a real setting, and the layout scales (the Kubernetes manifests have tests/test_kubernetes_manifests.py)."""

from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from core.settings import Settings
from service.cli.main import build_parser

ROOT = Path(__file__).resolve().parent.parent


def compose(name: str = "docker-compose.yml") -> dict:
    return yaml.safe_load((ROOT / name).read_text())


def test_compose_runs_redis_minio_api_and_worker():
    services = compose()["services"]
    assert {"redis", "minio", "minio-bucket", "api", "worker"} <= set(services)
    assert "--appendonly" in services["redis"]["command"] and "noeviction" in services["redis"]["command"]
    assert "redis:/data" in services["redis"]["volumes"] and "minio:/data" in services["minio"]["volumes"]
    for name in ("api", "worker"):
        assert services[name]["environment"]["GANFORGE_REDIS_URL"].startswith("redis://redis:")


def test_api_and_workers_share_the_bucket_not_a_volume():
    services = compose()["services"]
    for name in ("api", "worker"):
        env, service = services[name]["environment"], services[name]
        bucket = urlsplit(env["GANFORGE_STORE_URL"])
        assert bucket.scheme == "s3" and bucket.netloc
        assert urlsplit(env["GANFORGE_S3_ENDPOINT_URL"]).hostname == "minio"
        assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"} <= env.keys()
        # GANFORGE_DATA_DIR is scratch: an anonymous volume, each container its own, no named one to share.
        assert service["volumes"] == [env["GANFORGE_DATA_DIR"]]
        assert service["depends_on"]["minio-bucket"] == {"condition": "service_completed_successfully"}
        assert service["depends_on"]["redis"] == {"condition": "service_healthy"}
        # ...and the one-shot service makes that bucket on that MinIO, as the root user API and workers use.
        make = " ".join(services["minio-bucket"]["command"])
        assert f"mb --ignore-existing store/{bucket.netloc}" in make and env["GANFORGE_S3_ENDPOINT_URL"] in make
        minio = services["minio"]["environment"]
        assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == (
            minio["MINIO_ROOT_USER"], minio["MINIO_ROOT_PASSWORD"])
    assert services["minio-bucket"]["depends_on"]["minio"] == {"condition": "service_healthy"}


def test_workers_scale_with_compose_up_scale():
    services = compose()["services"]
    assert not any("container_name" in service for service in services.values())
    assert "ports" not in services["worker"]  # N replicas cannot publish one host port


def test_every_ganforge_variable_is_a_setting():
    known = {f"GANFORGE_{field.upper()}" for field in Settings.model_fields}
    for name in ("docker-compose.yml", "docker-compose.gpu.yml"):
        for service in compose(name)["services"].values():
            assert {v for v in service.get("environment", {}) if v.startswith("GANFORGE_")} <= known


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


def test_the_api_is_healthy_when_ready_and_the_gpu_file_gives_the_worker_every_gpu():
    assert "/readyz" in " ".join(compose()["services"]["api"]["healthcheck"]["test"])
    worker_check = compose()["services"]["worker"]["healthcheck"]["test"]
    assert worker_check[:2] == ["CMD", "ganforge"] and build_parser().parse_args(worker_check[2:]).this_host
    gpu = compose("docker-compose.gpu.yml")["services"]["gpu-worker"]
    assert gpu["extends"] == {"file": "docker-compose.yml", "service": "worker"}  # the CPU worker stays
    [device] = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    # Every GPU, a worker process on each (one container per machine): `count: 1` would give every replica GPU 0.
    assert device["count"] == "all"
    args = build_parser().parse_args(gpu["command"][1:])
    assert gpu["command"][0] == "ganforge" and args.command == "worker" and args.gpus == "all" and not args.queues
    assert "utility" in gpu["environment"]["NVIDIA_DRIVER_CAPABILITIES"]  # nvidia-smi, which --gpus reads
