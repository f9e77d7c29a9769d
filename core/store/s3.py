"""The S3 backend: a bucket (and an optional prefix in it) on AWS S3 or any service that speaks its protocol
(MinIO, Google Cloud Storage's XML API, Ceph). Credentials and region come from boto3's own chain
(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION, profiles, instance roles); GANFORGE_STORE_URL
names the bucket and GANFORGE_S3_ENDPOINT_URL the service when it is not AWS.

A single PUT (and a completed multipart upload) replaces an object atomically, so every write here is one.
S3 has no append: append_line reads the object once, then rewrites it whole with each new line, keeping
what it wrote in memory. That is sound because one writer owns a log (the worker holding the job's lease) and
cheap because the logs are small (metrics.jsonl: one row per epoch); readers get a whole log in one GET.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import boto3
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from core.store.base import ArtifactNotFound, ArtifactStore, ArtifactStream, StoreError, StoreUnavailable
from core.store.keys import check_key

_MISSING = {"NoSuchKey", "404", "NotFound"}
_REFUSED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken",
            "AllAccessDisabled", "Forbidden", "403"}
_LOGS_KEPT = 8  # logs whose content append_line keeps in memory (a worker appends to one at a time)


def parse_store_url(url: str) -> tuple[str, str]:
    """(bucket, prefix) of `s3://bucket/optional/prefix`."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"GANFORGE_STORE_URL must look like s3://bucket or s3://bucket/prefix; got {url!r}")
    prefix = parts.path.strip("/")
    if prefix:
        check_key(prefix)
    return parts.netloc, prefix


class S3Store(ArtifactStore):
    def __init__(self, url: str, endpoint_url: str | None, scratch: Path):
        self.bucket, self.prefix = parse_store_url(url)
        self.location = url if not endpoint_url else f"{url} at {endpoint_url}"
        self.scratch = Path(scratch)
        self.incoming_dir = self.scratch / "incoming"
        config = Config(
            connect_timeout=3, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"},
            max_pool_connections=32,  # the API's threads share one client
            # Path-style addresses (endpoint/bucket/key) suit MinIO and local endpoints, which lack per-bucket DNS.
            s3={"addressing_style": "path"} if endpoint_url else None,
            # Checksums only where the protocol requires them: services other than AWS (GCS, older MinIO)
            # refuse the newer default trailing checksums.
            request_checksum_calculation="when_required", response_checksum_validation="when_required",
        )
        # A session of its own: boto3's default session is not safe to share between threads.
        session = boto3.session.Session()
        self.client = session.client("s3", endpoint_url=endpoint_url or None, config=config)
        # /readyz asks this one, which gives up in seconds: a store that hangs must not hold the API's threads.
        self._probe = session.client("s3", endpoint_url=endpoint_url or None, config=config.merge(Config(
            connect_timeout=2, read_timeout=2, retries={"max_attempts": 1, "mode": "standard"})))
        self._transfer = TransferConfig(multipart_threshold=64 * 2**20, multipart_chunksize=64 * 2**20)
        self._batch_deletes = True  # until the service refuses DeleteObjects
        self._logs: OrderedDict[str, bytes] = OrderedDict()
        self._logs_lock = threading.Lock()

    def _object(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    # -- primitives -------------------------------------------------------------------------------------

    def put_bytes(self, key: str, data: bytes) -> None:
        self._call(f"writing {key}", self.client.put_object, Bucket=self.bucket, Key=self._object(key), Body=data)

    def put_file(self, key: str, path: Path) -> None:
        self._call(f"uploading {key}", self.client.upload_file, str(path), self.bucket, self._object(key),
                   Config=self._transfer)

    def get_bytes(self, key: str) -> bytes:
        with self.open_stream(key) as stream:
            return stream.read()

    def open_stream(self, key: str) -> ArtifactStream:
        response = self._call(f"reading {key}", self.client.get_object, Bucket=self.bucket, Key=self._object(key))
        body = response["Body"]
        return ArtifactStream(response["ContentLength"], self._guarded(f"reading {key}", body.read), body.close)

    @contextmanager
    def local_file(self, key: str) -> Iterator[Path]:
        self.scratch.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.scratch, prefix="download-")
        os.close(fd)
        try:
            self._call(f"downloading {key}", self.client.download_file, self.bucket, self._object(key), name,
                       Config=self._transfer)
            yield Path(name)
        finally:
            Path(name).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        try:
            self._call(f"looking for {key}", self.client.head_object, Bucket=self.bucket, Key=self._object(key))
        except ArtifactNotFound:
            return False
        return True

    def list_keys(self, prefix: str) -> list[str]:
        start = self._object(prefix) + "/"
        strip = len(self.prefix) + 1 if self.prefix else 0
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start)
        listing = self._call(f"listing {prefix}/", lambda: [item["Key"] for page in pages
                                                            for item in page.get("Contents", [])])
        return sorted(key[strip:] for key in listing)

    def delete(self, key: str) -> None:
        self._call(f"deleting {key}", self.client.delete_object, Bucket=self.bucket, Key=self._object(key))

    def delete_prefix(self, prefix: str) -> None:
        keys = self.list_keys(prefix)
        for start in range(0, len(keys), 1000):  # DeleteObjects takes up to 1,000 keys
            batch = keys[start : start + 1000]
            if not self._delete_batch(prefix, batch):
                for key in batch:
                    self.delete(key)

    def _delete_batch(self, prefix: str, keys: list[str]) -> bool:
        """One DeleteObjects request; False when the service lacks it (GCS's XML API), to delete one by one."""
        if not self._batch_deletes:
            return False
        objects = [{"Key": self._object(key)} for key in keys]
        try:
            response = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True})
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _REFUSED or code == "NoSuchBucket" or exc.response.get("ResponseMetadata", {}).get(
                    "HTTPStatusCode", 500) >= 500:
                raise self._failure(f"deleting {prefix}/", exc) from exc
            self._batch_deletes = False
            return False
        except BotoCoreError as exc:
            raise self._failure(f"deleting {prefix}/", exc) from exc
        if errors := response.get("Errors"):
            raise StoreError(f"{self.location} kept {len(errors)} objects of {prefix}/ when deleting them "
                             f"(first: {errors[0].get('Key')}: {errors[0].get('Code')})")
        return True

    def append_line(self, key: str, line: str) -> None:
        with self._logs_lock:
            content = self._logs.pop(key, None)
            if content is None:  # the first row this process adds: take up the log where it stands
                content = self.try_get_bytes(key) or b""
            content += (line + "\n").encode()
            self.put_bytes(key, content)
            self._logs[key] = content
            while len(self._logs) > _LOGS_KEPT:
                self._logs.popitem(last=False)

    def ping(self) -> None:
        self._call("checking the bucket", self._probe.head_bucket, Bucket=self.bucket)

    # -- errors -----------------------------------------------------------------------------------------

    def _call(self, what: str, operation: Callable, *args, **kwargs):
        try:
            return operation(*args, **kwargs)
        except (ClientError, BotoCoreError, Boto3Error) as exc:
            raise self._failure(what, exc) from exc

    def _guarded(self, what: str, read: Callable[[int], bytes]) -> Callable[[int], bytes]:
        """`read` with its failures (a connection lost mid-object) told as the store's."""
        def guarded(n: int = -1) -> bytes:
            return self._call(what, read, None if n < 0 else n)
        return guarded

    def _failure(self, what: str, exc: Exception) -> Exception:
        if isinstance(exc, Boto3Error) and isinstance(exc.__context__, ClientError):
            exc = exc.__context__  # a managed transfer wraps the service's answer
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code, message = str(error.get("Code", "")), error.get("Message", "")
            if code in _MISSING:
                return ArtifactNotFound(f"{what}: no such object in {self.location}")
            if code == "NoSuchBucket":
                return StoreUnavailable(f"{what}: the bucket {self.bucket!r} does not exist ({self.location}); "
                                        "create it, or point GANFORGE_STORE_URL at one that exists")
            if code in _REFUSED:
                return StoreUnavailable(f"{what}: {self.location} refused access ({code}); check the credentials "
                                        "(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) and the bucket's policy")
            return StoreUnavailable(f"{what}: {self.location} answered {code or 'an error'}: {message}")
        if isinstance(exc, NoCredentialsError):
            return StoreUnavailable(f"{what}: no credentials for {self.location}; set AWS_ACCESS_KEY_ID and "
                                    "AWS_SECRET_ACCESS_KEY (or any source boto3 reads)")
        return StoreUnavailable(f"{what}: the artifact store {self.location} is unreachable "
                                f"({type(exc).__name__}: {exc}); retry shortly")
