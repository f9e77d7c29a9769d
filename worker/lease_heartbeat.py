"""Keeps a job's lease alive while its worker runs it."""

from __future__ import annotations

import logging
import threading

from core.registry import JobLease

log = logging.getLogger("ganforge.worker")


class LeaseHeartbeat(threading.Thread):
    """Renews the job's lease until stopped; records if the lease was lost to another worker."""

    def __init__(self, lease: JobLease, ttl_s: float):
        super().__init__(daemon=True, name=f"lease-{lease.job_id}")
        self.lease, self.ttl_s = lease, ttl_s
        self.stopped = threading.Event()
        self.lost = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.ttl_s / 3):
            try:
                if not self.lease.renew(self.ttl_s):
                    self.lost.set()
                    return
            except Exception:  # a Redis blip: try again next beat, the lease outlives a few misses
                log.warning("lease renewal failed for %s", self.lease.job_id, exc_info=True)
