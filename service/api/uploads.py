"""Streams a multipart upload to a file on disk, chunk by chunk, refusing it once it passes the size cap; or, for a
body capped at max_body_bytes (the images sent to /translate and /variations), receives it whole into memory, where
the route would hold it anyway (no file writes on the event loop), and leaves its parts to be read where the route
chooses: /translate reads them in its batch's thread, so that the event loop spends nothing on python-multipart.

Starlette's own form parsing spools files to the system temp directory and caps only non-file fields;
this parser writes beside the data sets and counts every byte of the body as it arrives.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import HTTPException, Request
from python_multipart.multipart import MultipartParser, parse_options_header

from service.api.problems import Problem

FILE_FIELD = "file"
_MAX_FIELD_BYTES = 1024
_MAX_FIELDS = 16
_DRAIN_BYTES = 8 * 2**20  # read (and drop) this much of a refused body, so the client sees our 413
EXAMPLE = "curl -F file=@cats_dogs.zip -F image_size=64 .../v1/datasets"


@dataclass
class ReceivedUpload:
    path: Path | None  # the file part on disk (receive_upload)
    filename: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None  # the file part in memory (UnparsedForm.parse)


class _Parts:
    """python-multipart callbacks: the `file` part goes to disk, small text fields to memory."""

    def __init__(self, target, path: Path | None):
        self.target, self.upload = target, ReceivedUpload(path)
        self.headers: dict[bytes, bytes] = {}
        self.header_name = self.header_value = b""
        self.field_name: str | None = None
        self.value = bytearray()
        self.writing_file = False
        self.files = 0

    def callbacks(self) -> dict:
        return {"on_part_begin": self.part_begin, "on_header_field": self.header_field,
                "on_header_value": self.header_chunk, "on_header_end": self.header_end,
                "on_headers_finished": self.headers_finished, "on_part_data": self.data, "on_part_end": self.part_end}

    def part_begin(self) -> None:
        self.headers, self.header_name, self.header_value, self.value = {}, b"", b"", bytearray()

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def header_chunk(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def header_end(self) -> None:
        self.headers[self.header_name.lower()] = self.header_value
        self.header_name = self.header_value = b""

    def headers_finished(self) -> None:
        _, params = parse_options_header(self.headers.get(b"content-disposition", b""))
        self.field_name = params.get(b"name", b"").decode("utf-8", "replace")
        self.writing_file = self.field_name == FILE_FIELD
        if self.writing_file:
            self.files += 1
            if self.files > 1:
                raise Problem(422, f"send one `{FILE_FIELD}` per upload; got several")
            filename = params.get(b"filename", b"").decode("utf-8", "replace")
            # Browsers on some systems send a full path: keep the last part only, it is a label, never a path.
            self.upload.filename = filename.replace("\\", "/").rsplit("/", 1)[-1] or None
        elif len(self.upload.fields) >= _MAX_FIELDS:
            raise Problem(422, f"too many form fields; the upload takes `{FILE_FIELD}` and a few options")

    def data(self, data: bytes, start: int, end: int) -> None:
        if self.writing_file:
            self.target.write(data[start:end])  # a page-cache write of one chunk: short enough for the loop
            return
        self.value += data[start:end]
        if len(self.value) > _MAX_FIELD_BYTES:
            raise Problem(422, f"form field {self.field_name!r} is longer than {_MAX_FIELD_BYTES} bytes")

    def part_end(self) -> None:
        if not self.writing_file and self.field_name:
            self.upload.fields[self.field_name] = self.value.decode("utf-8", "replace").strip()
        self.writing_file = False


async def receive_upload(request: Request, directory: Path, max_bytes: int, example: str = EXAMPLE,
                         what: str = "the data set") -> ReceivedUpload:
    """Writes the multipart body's `file` part under `directory`; the caller deletes `path` when done. `what` and
    `example` name the upload in the refusals' words."""
    boundary = await _checked_boundary(request, max_bytes, example, what)
    fd, name = tempfile.mkstemp(dir=directory, prefix=".upload-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as target:
            return await _parse(request, boundary, _Parts(target, Path(name)), max_bytes, example, what)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class UnparsedForm:
    """A multipart body held in memory, its parts not read yet: `parse()` reads them (CPU work, for a worker thread)
    into an upload whose `file` part is in `content`."""

    boundary: bytes
    body: bytes
    example: str
    what: str

    def parse(self) -> ReceivedUpload:
        target = io.BytesIO()
        parts = _Parts(target, None)
        with _refusing_unreadable(self.example):
            parser = MultipartParser(self.boundary, parts.callbacks())
            parser.write(self.body)
            parser.finalize()
        upload = _with_file(parts, self.example, self.what)
        upload.content = target.getvalue()
        return upload


async def receive_unparsed(request: Request, max_bytes: int, example: str = EXAMPLE, what: str = "the images"
                           ) -> UnparsedForm:
    """The whole multipart body, for bodies small enough to hold (max_body_bytes), refused at once when it is not
    multipart or is over `max_bytes`."""
    boundary = await _checked_boundary(request, max_bytes, example, what)
    with _refusing_unreadable(example):
        body = b"".join([chunk async for chunk in _capped(request, max_bytes, what)])
    return UnparsedForm(boundary, body, example, what)


async def _checked_boundary(request: Request, max_bytes: int, example: str, what: str) -> bytes:
    """The multipart boundary, after refusing a body that is not multipart or says it is over the cap."""
    kind, params = parse_options_header(request.headers.get("content-type", ""))
    if kind != b"multipart/form-data" or not params.get(b"boundary"):
        raise Problem(415, f"send {what} as multipart/form-data with a `{FILE_FIELD}` field, e.g. {example}")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        if int(declared) <= max_bytes + _DRAIN_BYTES:
            await _drain(request.stream())
        raise Problem(413, _too_large(max_bytes, what), headers={"Connection": "close"})
    return params[b"boundary"]


async def _parse(request: Request, boundary: bytes, parts: _Parts, max_bytes: int, example: str,
                 what: str) -> ReceivedUpload:
    with _refusing_unreadable(example):
        parser = MultipartParser(boundary, parts.callbacks())
        async for chunk in _capped(request, max_bytes, what):
            parser.write(chunk)
        parser.finalize()
    return _with_file(parts, example, what)


async def _capped(request: Request, max_bytes: int, what: str) -> AsyncIterator[bytes]:
    """The body's chunks, refused with a 413 (the rest drained, the connection then closed) once past `max_bytes`."""
    received = 0
    stream = request.stream()
    async for chunk in stream:
        received += len(chunk)
        if received > max_bytes:
            await _drain(stream)
            raise Problem(413, _too_large(max_bytes, what), headers={"Connection": "close"})
        yield chunk


@contextmanager
def _refusing_unreadable(example: str) -> Iterator[None]:
    """What goes wrong while a body is received or parsed, as the Problem the caller gets."""
    try:
        yield
    except Problem:
        raise
    except HTTPException as exc:  # BodySizeLimit's cap, tripped while a body without Content-Length streamed in
        raise Problem(exc.status_code, str(exc.detail), headers={"Connection": "close"}) from None
    except Exception as exc:  # python-multipart's parse errors, a client that went away
        raise Problem(400, f"the multipart body could not be read ({exc}); send it as {example}") from None


def _with_file(parts: _Parts, example: str, what: str) -> ReceivedUpload:
    if parts.files == 0:
        raise Problem(422, f"no `{FILE_FIELD}` field in the form; send {what} as {example}")
    return parts.upload


async def _drain(stream) -> None:
    drained = 0
    async for chunk in stream:
        drained += len(chunk)
        if drained > _DRAIN_BYTES:
            return


def _too_large(max_bytes: int, what: str) -> str:
    return (f"the upload is larger than {max_bytes:,} bytes (the server's max_upload_bytes); split {what} "
            "into smaller uploads, or ask the operator to raise GANFORGE_MAX_UPLOAD_BYTES")
