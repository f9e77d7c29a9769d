"""Structured logs: one JSON object per line, carrying the request id and job id of the work at hand."""

from __future__ import annotations

import atexit
import contextvars
import json
import logging
import queue
import sys
import threading
import time
from datetime import UTC, datetime
from logging.handlers import QueueHandler

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
job_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("job_id", default=None)

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace(
                "+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, var in (("request_id", request_id), ("job_id", job_id)):
            if (value := var.get()) is not None:
                entry[name] = value
        # Fields passed with `extra=` (status, duration_ms, ...) become fields of the entry.
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:  # formatted by _Handoff in the thread that logged
            entry["exception"] = record.exc_text
        return json.dumps(entry, default=str)


class _Handoff(QueueHandler):
    """Hands a record to the writing thread with only what cannot wait: the message, the context's ids and the
    exception's text. QueueHandler's own prepare formats the whole entry here, in the thread that logs."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        record.msg, record.args = record.getMessage(), None
        for name, var in (("request_id", request_id), ("job_id", job_id)):
            if (value := var.get()) is not None:
                setattr(record, name, value)
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        return record


class _BatchWriter:
    """Formats and writes the queued entries in batches, pausing PAUSE_S after each. A writer blocked on the queue is
    woken by every entry: a futex wake, and its claim on the GIL interrupting the thread that logged (the API's event
    loop, an access log line per request); one that sleeps between batches is woken a few times a second under load,
    and writes each batch with one write. An entry waits at most PAUSE_S longer to be written."""

    PAUSE_S = 0.05
    _STOP = object()

    def __init__(self, records: queue.SimpleQueue, handler: logging.StreamHandler):
        self.records, self.handler = records, handler
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Writes what is queued, then ends the thread."""
        self.records.put(self._STOP)
        self._thread.join()

    def _run(self) -> None:
        while True:
            batch = [self.records.get()]
            while True:
                try:
                    batch.append(self.records.get_nowait())
                except queue.Empty:
                    break
            stopping = self._STOP in batch
            self._write([record for record in batch if record is not self._STOP])
            if stopping:
                return
            time.sleep(self.PAUSE_S)

    def _write(self, records: list[logging.LogRecord]) -> None:
        lines = []
        for record in records:
            try:
                lines.append(self.handler.format(record) + self.handler.terminator)
            except Exception:  # logging's own rule: a bad entry is reported, never raised
                self.handler.handleError(record)
        try:
            self.handler.stream.write("".join(lines))
            self.handler.flush()
        except Exception:
            self.handler.handleError(records[-1])


def configure(log_format: str = "json", level: int = logging.INFO, background: bool = False) -> None:
    """Root logging for a GANForge process: JSON lines (or plain text) on stderr. `background`: formatted and
    written by a thread of their own, in batches (the API's event loop: a write to stderr per request, an access log
    line, was a fifth of its time under load: docs/benchmarks.md, issue 33); entries logged just before a hard kill
    are lost."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    if background:
        records: queue.SimpleQueue = queue.SimpleQueue()
        writer = _BatchWriter(records, handler)
        writer.start()
        atexit.register(writer.stop)  # writes what is queued before the process ends
        handler = _Handoff(records)
    root.handlers[:] = [handler]
    root.setLevel(level)
