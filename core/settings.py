"""The one place configuration is read: environment variables with the prefix GANFORGE_."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, Field, StringConstraints, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# What an API key may do. Scopes nest, each allowing all that the ones before it do (see service.api.auth).
Scope = Literal["generate", "train", "admin"]
SCOPES: tuple[Scope, ...] = get_args(Scope)


class ApiKeyConfig(BaseModel):
    """One API key as configured: its SHA-256, never the key itself (`ganforge keys new` prints both)."""

    name: str = Field(..., min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    sha256: str = Field(..., pattern=r"^[0-9a-f]{64}$")
    scope: Scope


# A name a Host header may carry, without its port: example.com, *.example.com (any subdomain), 10.0.0.5, [fd00::1].
HostName = Annotated[str, StringConstraints(to_lower=True,
                                            pattern=r"(?i)^(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*$|^\[[0-9a-f:.]+\]$")]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GANFORGE_", extra="ignore")

    redis_url: str | None = Field(None, description="External Redis (redis://host:6379/0), or one behind Sentinel "
                                  "(sentinel://host1:26379,host2:26379/<master name>/0); unset: `ganforge up` "
                                  "embeds one")
    redis_sentinel_password: str | None = Field(None, description="The sentinels' own password, when they ask for "
                                                "one (the data nodes' goes in redis_url: sentinel://:pass@...)")
    data_dir: Path = Field(Path("ganforge-data"), description="The artifact store shared by API and workers when "
                           "store_url is unset; local scratch space (uploads, downloads) always")
    store_url: str = Field("", description="s3://bucket or s3://bucket/prefix: keep artifacts in S3-compatible storage "
                           "(credentials and region from boto3's chain: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, "
                           "AWS_DEFAULT_REGION); empty: in data_dir")
    s3_endpoint_url: str | None = Field(None, description="The S3 service when it is not AWS: MinIO "
                                        "(http://minio:9000), GCS (https://storage.googleapis.com)")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)

    max_images_per_request: int = Field(256, ge=1)
    max_epochs: int = Field(1000, ge=1)
    max_job_memory_bytes: int = Field(8 * 2**30, ge=1, description="Most memory one training job may need, as "
                                      "estimated at submit (weights, gradients, optimiser state, a batch's "
                                      "activations); larger jobs are refused with the estimate")
    max_augment_images: int = Field(100_000, ge=1, description="Most images one augment request may ask for")
    max_report_images: int = Field(20_000, ge=2, description="Most images of a data set an augmentation report "
                                   "measures on (its rows and synthetic draws grow with the set)")
    generator_cache_size: int = Field(8, ge=1, description="Generators kept loaded in the API")
    generator_cache_bytes: int = Field(2 * 2**30, ge=1, description="Most bytes of weights kept loaded in the API")
    batch_max_images: int = Field(64, ge=1, description="Largest batch of concurrent generation requests run as one")
    # 0 by default: under load the next batch fills while one runs, so waiting only adds latency
    # (bench/serve_throughput.py: N=1 p50 12.0 ms at 0 vs 15.8 ms at 2, the same images/s at N=32).
    batch_wait_ms: float = Field(0.0, ge=0, description="Longest a request waits for others to share its batch; "
                                 "0: a batch takes what queued while the previous one ran")
    serve_precision: Literal["auto", "float32"] = Field(
        "auto", description="auto: an image sampler serves in the precision and layout measured fastest for its net "
                            "on this kind of machine (models/speed_table.json), if its own images barely change with "
                            "it (docs/generation.md); float32: every model exactly as trained")
    family_modules: list[str] = Field(default_factory=list, description="JSON list of Python modules that "
                                      "register extra GAN families (models.gan.register_family); API and "
                                      "workers import them at start")
    device: str = Field("auto", description="auto (CUDA when there is a GPU), cpu or cuda[:i]; training and serving")

    job_time_limit_s: int = Field(6 * 3600, ge=1)
    # Redis redelivers an unacknowledged late-ack message after this long, so it must outlast any
    # job, or a long job trains twice (Celery docs, "Redis: Caveats"; celery#5935).
    visibility_timeout_s: int = Field(12 * 3600, ge=60)
    lease_ttl_s: int = Field(30, ge=2, description="A job's lease expires this long after its last heartbeat")
    progress_interval_s: float = Field(0.5, ge=0, description="Least time between progress writes to Redis")
    cancel_check_interval_s: float = Field(0.5, gt=0, description="How often a running job looks for a cancel")
    max_attempts: int = Field(5, ge=1, description="Deliveries of a job that may start training before it fails")
    transient_retries: int = Field(3, ge=0, description="Retries of a job after a transient failure")
    retry_backoff_s: float = Field(5.0, ge=0, description="First retry delay; doubles with each retry")
    reaper_interval_s: float = Field(10.0, gt=0, description="How often each worker looks for orphaned jobs")
    orphan_grace_s: float = Field(30.0, gt=0, description="A queued job whose task never reached the broker "
                                  "is enqueued again after this long")
    torch_threads: int = Field(0, ge=0, description="CPU threads per training process; 0: torch's default "
                               "(set 1 when several workers share a machine's cores)")
    rank_timeout_s: float = Field(600.0, gt=0, description="A job on several devices (train.devices) fails over to "
                                  "its last checkpoint when a rank has not answered a collective this long (a dead "
                                  "rank is noticed at once; this bounds a hung one). Must outlast the lead's pauses "
                                  "between steps: sample grids, checkpoints, per-epoch scores")
    worker_heartbeat_ttl_s: float = Field(15.0, ge=1, description="A worker counts as gone this long after "
                                                                  "its last heartbeat")

    # -- the HTTP API --
    api_workers: int = Field(1, ge=1, description="API processes serving the one port (`ganforge api --workers`), "
                             "each with its own generator cache and batchers (so the cache's bounds hold per "
                             "process); /metrics answers for all of them")
    api_keys: list[ApiKeyConfig] = Field(default_factory=list, description="JSON list of {name, sha256, "
                                         "scope}; empty: no auth, and the API binds loopback only")
    cors_origins: list[str] = Field(default_factory=list, description="JSON list; empty: CORS off")
    allowed_hosts: list[HostName] = Field(default_factory=list, description="JSON list of host names (`*.` prefix: "
                                          "any subdomain) the API answers to besides 127.0.0.1, localhost and [::1]; "
                                          "any other Host header gets 421. Empty: loopback names only without "
                                          "api_keys (against DNS rebinding), any name with them")
    max_body_bytes: int = Field(8 * 2**20, ge=1024, description="Largest JSON request body")
    rate_limit_generate_per_min: int = Field(600, ge=0, description="Generation requests per key per minute; 0: off")
    rate_limit_jobs_per_min: int = Field(30, ge=0, description="Job submissions per key per minute; 0: off")
    max_unfinished_jobs_per_key: int = Field(20, ge=0, description="Queued + running jobs per key; 0: no cap")
    redis_timeout_s: float = Field(0.8, gt=0, description="The API's Redis socket timeout (one retry). During an "
                                   "outage requests are answered 503 by the API's Redis watchdog within about a "
                                   "second, whatever this is")
    log_format: Literal["json", "text"] = "json"
    sse_heartbeat_s: float = Field(15.0, gt=0, description="An event stream sends a keep-alive comment when "
                                   "nothing has happened for this long (proxies close idle connections)")
    max_event_streams: int = Field(2000, ge=1, description="Most event streams one API process serves at once; "
                                   "a new one beyond gets 503 with Retry-After")
    max_event_stream_keys: int = Field(100, ge=1, description="Most different streams (jobs, or every job's status "
                                       "changes) one API process follows at once: each holds one Redis connection")

    # Data set uploads. Every cap is checked while the bytes flow, never trusted from a header.
    max_upload_bytes: int = Field(512 * 2**20, ge=1, description="Largest upload body accepted (413 beyond)")
    max_uncompressed_bytes: int = Field(2 * 2**30, ge=1, description="Most bytes a ZIP or NPZ may unpack to")
    max_entry_bytes: int = Field(64 * 2**20, ge=1, description="Most bytes one file inside a ZIP may unpack to")
    max_zip_entries: int = Field(100_000, ge=1, description="Most entries (files and folders) in an uploaded ZIP")
    max_image_pixels: int = Field(4096 * 4096, ge=1, description="Largest image (width x height) decoded; "
                                                                   "also Pillow's decompression-bomb limit")
    max_dataset_images: int = Field(100_000, ge=1, description="Most images in one data set")
    max_dataset_bytes: int = Field(2**30, ge=1, description="Largest stored data set (N x C x H x W bytes)")

    @model_validator(mode="after")
    def _visibility_outlasts_jobs(self) -> Settings:
        if self.visibility_timeout_s <= self.job_time_limit_s:
            raise ValueError(
                f"visibility_timeout_s ({self.visibility_timeout_s}) must exceed job_time_limit_s "
                f"({self.job_time_limit_s}), or a long job is delivered twice"
            )
        return self

    @model_validator(mode="after")
    def _entry_fits_in_total(self) -> Settings:
        if self.max_entry_bytes > self.max_uncompressed_bytes:
            raise ValueError(f"max_entry_bytes ({self.max_entry_bytes}) must not exceed max_uncompressed_bytes "
                             f"({self.max_uncompressed_bytes})")
        return self

    @model_validator(mode="after")
    def _store_url_is_s3(self) -> Settings:
        bucket = self.store_url.removeprefix("s3://").split("/", 1)[0]
        if self.store_url and (not self.store_url.startswith("s3://") or not bucket or "?" in self.store_url):
            raise ValueError(f"store_url must be s3://bucket or s3://bucket/prefix (empty: the directory data_dir); "
                             f"got {self.store_url!r}")
        return self

    def require_redis_url(self) -> str:
        if not self.redis_url:
            raise SystemExit("GANFORGE_REDIS_URL is not set (use `ganforge up` to run with an embedded Redis)")
        return self.redis_url


@lru_cache
def get_settings() -> Settings:
    return Settings()
