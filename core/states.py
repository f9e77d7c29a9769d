"""A job's states, defined once: the registry, its Lua scripts, the workers and the API (its schemas, and the
dashboard through GET /ui/states.json) read them from here. The HTTP client, which installs without the server,
keeps a copy (client/ganforge_client/states.py) that tests/client/test_copies.py holds to this one."""

from enum import StrEnum


# A StrEnum, so a member is also its plain string: it goes into Redis, JSON and Lua as it is, and a status read
# back from Redis as a string compares equal to it. The docstring is the OpenAPI document's description.
class JobStatus(StrEnum):
    """A job's state: queued, running, then succeeded, failed or cancelled (cancelling: asked to stop, stopping)."""

    QUEUED = "queued"
    RUNNING = "running"
    CANCELLING = "cancelling"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)  # a job in one of these never changes again
STATUSES = tuple(JobStatus)
LEASED = (JobStatus.RUNNING, JobStatus.CANCELLING)  # a worker runs (or stops) it: it must hold the job's lease
