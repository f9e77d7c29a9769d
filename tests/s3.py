"""A real S3-protocol server for the tests: moto's standalone server, a child process on loopback, with a
bucket made for the session. The store's S3 backend talks to it as it would to MinIO or AWS."""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

import boto3
from botocore.config import Config

from service.cli.embedded_redis import free_port
from service.cli.processes import answers_ok, wait_for

# What boto3's chain reads: moto takes any keys. No instance-metadata lookups, which would wait on timeouts.
S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "ganforge-test", "AWS_SECRET_ACCESS_KEY": "ganforge-test-secret",
                  "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}


def start_s3_server(log: Path) -> tuple[subprocess.Popen, str]:
    """moto's server on a free loopback port, in its own process group (service.cli.processes.stop ends it);
    returns it and its endpoint URL once it answers."""
    port = free_port()
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    endpoint = f"http://127.0.0.1:{port}"
    wait_for(lambda: answers_ok(f"{endpoint}/moto-api/"), 30, "S3 server (moto)", process, log)
    return process, endpoint


def create_bucket(endpoint: str) -> str:
    bucket = f"ganforge-{secrets.token_hex(4)}"
    client = boto3.session.Session().client("s3", endpoint_url=endpoint, config=Config(s3={"addressing_style": "path"}))
    client.create_bucket(Bucket=bucket)
    client.close()
    return bucket
