"""The job runner: Celery tasks, one runner per job kind (training, evaluation, projection), leases and their
heartbeat, the reaper, worker pools and data-parallel ranks. Imports core and models; nothing imports it but itself
(the API sends tasks by name)."""
