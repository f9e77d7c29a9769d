"""The one place configuration is read: environment variables with the prefix GANFORGE_."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GANFORGE_", extra="ignore")

    redis_url: str | None = Field(None, description="External Redis; unset: `ganforge up` embeds one")
    data_dir: Path = Field(Path("ganforge-data"), description="Artifact store shared by API and workers")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)

    max_images_per_request: int = Field(256, ge=1)
    max_epochs: int = Field(1000, ge=1)
    generator_cache_size: int = Field(8, ge=1, description="Generators kept loaded in the API")
    device: str = Field("auto", description="auto, cpu or cuda[:i]")

    job_time_limit_s: int = Field(6 * 3600, ge=1)
    # Redis redelivers an unacknowledged late-ack message after this long, so it must outlast any
    # job, or a long job trains twice (Celery docs, "Redis: Caveats"; celery#5935).
    visibility_timeout_s: int = Field(12 * 3600, ge=60)
    lease_ttl_s: int = Field(30, ge=2, description="A job's lease expires this long after its last heartbeat")
    progress_interval_s: float = Field(0.5, ge=0, description="Least time between progress writes to Redis")

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

    def require_redis_url(self) -> str:
        if not self.redis_url:
            raise SystemExit("GANFORGE_REDIS_URL is not set (use `ganforge up` to run with an embedded Redis)")
        return self.redis_url


@lru_cache
def get_settings() -> Settings:
    return Settings()
