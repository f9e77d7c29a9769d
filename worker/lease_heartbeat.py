"""Keeps a job's lease alive while its worker runs it."""

from __future__ import annotations

import logging
import threading

from core.registry import JobLease

log = logging.getLogger("ganforge.worker")
# Renewals per TTL: the lease is at most TTL/10 old when Redis stops answering, so an outage up to nine tenths
# of the TTL (25 s of a 30 s lease, and more) ends with the lease still alive; the renewal pending or retried at
# that moment keeps it, and no reaper sees it expire.
RENEWALS_PER_TTL = 10
RETRY_S = 0.25  # between renewals that failed fast (connection refused while Redis restarts)


class LeaseHeartbeat(threading.Thread):
    """Renews the job's lease until stopped, RENEWALS_PER_TTL times per TTL and at once again after a failure;
    records if the lease was lost to another worker."""

    def __init__(self, lease: JobLease, ttl_s: float):
        super().__init__(daemon=True, name=f"lease-{lease.job_id}")
        self.lease, self.ttl_s = lease, ttl_s
        self.stopped = threading.Event()
        self.lost = threading.Event()

    def run(self) -> None:
        every = self.ttl_s / RENEWALS_PER_TTL
        wait = every
        while not self.stopped.wait(wait):
            try:
                if not self.lease.renew(self.ttl_s):
                    self.lost.set()
                    return
                wait = every
            except Exception:  # Redis away: try again soon, the lease outlives the gap
                log.warning("lease renewal failed for %s", self.lease.job_id, exc_info=True)
                wait = min(RETRY_S, every)
