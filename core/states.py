"""A job's states, defined once: the registry, its Lua scripts, the API's docs and the HTTP client read them
from here. It imports nothing, so the client can use it without pulling in Celery or Redis."""

TERMINAL = ("succeeded", "failed", "cancelled")  # a job in one of these never changes again
STATUSES = ("queued", "running", "cancelling", *TERMINAL)
