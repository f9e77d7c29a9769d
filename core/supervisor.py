"""Keeps `ganforge up`'s parts running: a part that exits is started again after a back-off, and when one
keeps failing the whole stack stops with a non-zero exit code, so a service manager sees the failure."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Part:
    name: str
    start: Callable[[], subprocess.Popen]  # starts the part; raises if it cannot
    process: subprocess.Popen | None = None
    restarts: deque[float] = field(default_factory=deque)  # monotonic times of recent restarts


class Supervisor:
    """Starts the parts in order, restarts any that exits (back-off base_delay_s, doubling, at most
    max_delay_s), and gives up when one needs more than max_restarts restarts within window_s."""

    def __init__(self, parts: list[Part], log: Callable[[str], None] = print, max_restarts: int = 5,
                 window_s: float = 60.0, base_delay_s: float = 0.5, max_delay_s: float = 30.0):
        self.parts, self.log = parts, log
        self.max_restarts, self.window_s = max_restarts, window_s
        self.base_delay_s, self.max_delay_s = base_delay_s, max_delay_s
        self.stopping = threading.Event()

    def stop(self, *_signal_args) -> None:
        self.stopping.set()

    def run(self) -> int:
        """0 after stop(), 1 when a part kept failing. Every part is stopped either way."""
        try:
            for part in self.parts:
                part.process = part.start()
            while not self.stopping.wait(0.2):
                for part in self.parts:
                    if part.process is not None and part.process.poll() is None:
                        continue
                    if not self._restart(part):
                        return 1
            return 0
        finally:
            self._stop_all()

    def _restart(self, part: Part) -> bool:
        now = time.monotonic()
        while part.restarts and now - part.restarts[0] > self.window_s:
            part.restarts.popleft()
        code = part.process.returncode if part.process is not None else "no process"
        if len(part.restarts) >= self.max_restarts:
            self.log(f"ganforge: {part.name} exited ({code}) {len(part.restarts) + 1} times within "
                     f"{self.window_s:g} s; giving up and stopping everything")
            return False
        delay = min(self.max_delay_s, self.base_delay_s * 2 ** len(part.restarts))
        self.log(f"ganforge: {part.name} exited ({code}); restarting it in {delay:g} s")
        part.restarts.append(now)
        if self.stopping.wait(delay):
            return True
        try:
            part.process = part.start()
        except Exception as exc:  # e.g. Redis's port taken meanwhile: counts as one more failure
            self.log(f"ganforge: {part.name} could not start again: {exc}")
            part.process = None
        return True

    def _stop_all(self, grace_s: float = 10.0) -> None:
        # The last started first (API and worker before Redis), so nothing loses its broker while stopping.
        for part in reversed(self.parts):
            process = part.process
            if process is None:
                continue
            _signal_group(process, signal.SIGTERM)
            try:
                process.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.log(f"ganforge: {part.name} did not stop in {grace_s:g} s; killing it")
                _signal_group(process, signal.SIGKILL)
                process.wait()
            _signal_group(process, signal.SIGKILL)  # leftovers of the group (Celery's pool), if any
        self.log("ganforge: stopped")


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass
