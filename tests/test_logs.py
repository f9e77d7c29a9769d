"""Background logging: every entry is written, in order, with its request id, a burst in a few writes."""

import io
import json
import logging
import queue

from core import logs


class CountingStream(io.StringIO):
    def __init__(self):
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def started_writer(stream: io.StringIO) -> tuple[logs._BatchWriter, logging.Logger, queue.SimpleQueue]:
    """A background writer onto `stream`, and a logger that hands it entries as the API's loggers do."""
    records: queue.SimpleQueue = queue.SimpleQueue()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    writer = logs._BatchWriter(records, handler)
    log = logging.Logger("test")
    log.addHandler(logs._Handoff(records))
    writer.start()
    return writer, log, records


def test_a_burst_of_entries_is_written_whole_in_order_in_few_writes():
    stream = CountingStream()
    writer, log, _ = started_writer(stream)
    token = logs.request_id.set("req-1")
    try:
        for i in range(300):
            log.info("entry %d", i, extra={"status": 200})
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed")
    finally:
        logs.request_id.reset(token)
    writer.stop()  # writes what is still queued
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [entry["message"] for entry in entries] == [f"entry {i}" for i in range(300)] + ["failed"]
    assert {entry["request_id"] for entry in entries} == {"req-1"} and entries[0]["status"] == 200
    assert "ValueError: boom" in entries[-1]["exception"]
    assert stream.writes < 30  # batches, not a write per entry


def test_an_entry_that_cannot_be_formatted_is_reported_and_the_others_written(capsys):
    stream = io.StringIO()
    writer, log, records = started_writer(stream)
    log.info("before")
    records.put(logging.makeLogRecord({"msg": "%d", "args": ("not a number",)}))  # fails in getMessage
    log.info("after")
    writer.stop()
    assert [json.loads(line)["message"] for line in stream.getvalue().splitlines()] == ["before", "after"]
    assert "--- Logging error ---" in capsys.readouterr().err
