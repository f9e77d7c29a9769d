"""A typed Python client for the GANForge HTTP API: `Client` (blocking) and `AsyncClient` (asyncio).

Each operation is written once, as a generator that yields what it needs done — an HTTP call, a pause,
a progress callback — and receives each HTTP response back (or the error, thrown in, to retry or clean up).
`Client` runs those steps with httpx.Client and time.sleep, `AsyncClient` with httpx.AsyncClient and
asyncio.sleep, so the two classes only drive; request building, polling, retrying, parsing and unpacking
live in the shared operations below.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import io
import json
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable, Generator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, Literal, TypeVar
from urllib.parse import quote

import httpx
import numpy as np
from PIL import Image

from ganforge_client.states import TERMINAL

DEFAULT_URL = "http://127.0.0.1:8000"
# Generation and augmentation may compute for a while before the first byte; connecting should not.
DEFAULT_TIMEOUT = httpx.Timeout(120.0, connect=10.0)
_CHUNK = 1 << 16
_WAIT_RETRIES = 10  # polls in a row that may fail (503, connection lost) before `wait` gives up

T = TypeVar("T")
Progress = Callable[[dict], Any]


class GANForgeError(Exception):
    """The server answered 4xx or 5xx; `detail` is what its problem document says went wrong."""

    def __init__(self, status: int, detail: str, body: Any = None, headers: Mapping[str, str] | None = None):
        super().__init__(f"{status}: {detail}")
        self.status, self.detail, self.body = status, detail, body
        self.headers = {k.lower(): v for k, v in (headers or {}).items()}

    @property
    def retry_after(self) -> float | None:
        """Seconds the server asked to wait before retrying (429, 503), if it said."""
        try:
            return float(self.headers["retry-after"])
        except (KeyError, ValueError):  # absent, or an HTTP date, which this server never sends
            return None


class JobFailed(Exception):
    """`wait` saw the job end `failed` or `cancelled`; `job` is its last state, `error` the server's reason."""

    def __init__(self, job: dict):
        self.job, self.status, self.error = job, job["status"], job.get("error")
        super().__init__(f"job {job['id']} {self.status}" + (f": {self.error}" if self.error else ""))


@dataclass(frozen=True, eq=False)
class Generated:
    """What `generate(..., as_="array")` returns: the images with the inputs that made them."""

    images: np.ndarray | None  # N×H×W×C uint8, channels last; None for 2-D point models
    latents: np.ndarray | None  # N×latent_dim float32: send them back as `latents` to get the same images
    seed: int | None  # None when explicit latents were given
    labels: np.ndarray | None = None  # int64 N, indices into `classes` (conditional models)
    classes: list[str] | None = None
    categorical: np.ndarray | None = None  # InfoGAN codes
    continuous: np.ndarray | None = None
    points: np.ndarray | None = None  # N×2 float32, 2-D point models only
    ws: np.ndarray | None = None  # N×num_ws×w_dim: style-based models, when the images were made from ws
    psi: np.ndarray | None = None  # style-based models: each image's truncation towards the mean w


@dataclass(frozen=True)
class Augmented:
    """What `augment` or `vary_dataset` wrote: `path` is the folder (zip) or `folder/augment.npz` (npz; for
    vary_dataset `variations.npz`)."""

    path: Path
    model_id: str
    seed: int | None
    image_count: int
    manifest: dict | None  # zip only: the server's manifest.json (counts per class, seed, ...)
    # augment's mix "recommended": the augmentation report it follows, its row and the gain it measured
    report_id: str | None = None
    mix_row: str | None = None
    measured_gain: str | None = None  # e.g. "+0.0412 balanced accuracy (spread 0.0100)"
    warning: str | None = None  # plain synthetic data from a model whose report measured a loss


# The steps an operation yields to whichever client drives it.

@dataclass(frozen=True)
class _Call:
    method: str
    path: str
    json: Any = None
    params: Mapping[str, Any] | None = None
    headers: Mapping[str, str] | None = None
    files: Mapping[str, Any] | None = None
    data: Mapping[str, str] | None = None
    into: IO[bytes] | None = None  # stream the body into this file rather than into memory

    def httpx_args(self) -> dict[str, Any]:
        args = {"json": self.json, "params": self.params, "headers": self.headers, "files": self.files,
                "data": self.data}
        return {k: v for k, v in args.items() if v is not None}


@dataclass(frozen=True)
class _Sleep:
    seconds: float


@dataclass(frozen=True)
class _Notify:
    callback: Progress
    job: dict


_Step = _Call | _Sleep | _Notify
_Op = Generator[_Step, Any, T]


# Operations: the whole logic of each method, shared by Client and AsyncClient.

def _submit_job(dataset: str, model: dict | None, train: dict | None, idempotency_key: str | None,
                hold_out: bool | None = None) -> _Op[dict]:
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
    body = {"dataset": dataset, **_given(model=model, train=train, hold_out=hold_out)}
    response = yield _Call("POST", "/v1/jobs", json=body, headers=headers)
    return response.json()


def _evaluate(model_id: str, request: dict, wait: bool, on_progress: Progress | None, poll_s: float,
              timeout_s: float | None) -> _Op[dict]:
    job = (yield _Call("POST", f"/v1/models/{_segment(model_id)}/evaluations", json=_given(**request))).json()
    if not wait:
        return job
    return (yield from _wait(job["id"], on_progress, poll_s, timeout_s))


def _report_request(seeds: int, dataset: str | None, rare_classes: Sequence[str] | None) -> dict:
    return {"metrics": ["augmentation_gain"], "seeds": seeds, "dataset": dataset, "rare_classes": rare_classes}


def _get(path: str, key: str | None = None) -> _Op[Any]:
    body = (yield _Call("GET", path)).json()
    return body[key] if key else body


def _list_jobs(limit: int) -> _Op[list[dict]]:
    return (yield _Call("GET", "/v1/jobs", params={"limit": limit})).json()["jobs"]


def _grid(model_id: str, request: dict) -> _Op[bytes]:
    response = yield _Call("POST", f"/v1/models/{_segment(model_id)}/generate",
                           json={**_given(**request), "format": "grid"})
    return response.content


def _style_mix(model_id: str, request: dict) -> _Op[bytes]:
    response = yield _Call("POST", f"/v1/models/{_segment(model_id)}/style-mix",
                           json={**_given(**request), "format": "grid"})
    return response.content


def _project(model_id: str, request: dict, poll_s: float) -> _Op[dict]:
    job = (yield _Call("POST", f"/v1/models/{_segment(model_id)}/projections", json=_given(**request))).json()
    finished = yield from _wait(job["id"], None, poll_s, None)
    return finished["result"]


def _listed(ws: Any) -> Any:
    """ws as JSON lists (a numpy array, e.g. Generated.ws, as it is)."""
    return ws.tolist() if isinstance(ws, np.ndarray) else ws


def _projection(image: bytes | None, dataset_index: int | None, steps: int, space: str, seed: int) -> dict:
    encoded = base64.b64encode(image).decode() if image is not None else None
    return {"image": encoded, "dataset_index": dataset_index, "steps": steps, "space": space, "seed": seed}


def _cancel(job_id: str) -> _Op[dict]:
    return (yield _Call("POST", f"/v1/jobs/{_segment(job_id)}/cancel")).json()


def _wait(job_id: str, on_progress: Progress | None, poll_s: float, timeout_s: float | None,
          on_waiting: Progress | None = None) -> _Op[dict]:
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    seen, noted, failures, status = None, None, 0, "unknown"
    while True:
        pause = poll_s
        try:
            job = (yield _Call("GET", f"/v1/jobs/{_segment(job_id)}")).json()
            failures, status = 0, job["status"]
        except (GANForgeError, httpx.TransportError) as error:
            # Redis or the API restarting answers 503 or drops the connection for seconds; a wait that may
            # span hours rides that out rather than losing track of the job.
            failures += 1
            if failures > _WAIT_RETRIES or (isinstance(error, GANForgeError) and error.status != 503):
                raise
            job, pause = None, max(poll_s, getattr(error, "retry_after", None) or 0.0)
        # `waiting` is set only while the job is queued (its data set's reference classifier, then a worker).
        if job is not None and on_waiting is not None and job.get("waiting") and job["waiting"] != noted:
            noted = job["waiting"]
            yield _Notify(on_waiting, job)
        if job is not None and on_progress is not None and job.get("progress") and job["progress"] != seen:
            seen = job["progress"]
            yield _Notify(on_progress, job)
        if status in TERMINAL:
            if status != "succeeded":
                raise JobFailed(job)
            return job
        if deadline is not None:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"job {job_id} still {status} after {timeout_s} s")
            pause = min(pause, deadline - time.monotonic())
        yield _Sleep(max(pause, 0.0))


def _generate(model_id: str, as_: str, inputs: dict) -> _Op[list[Image.Image] | Generated]:
    if as_ not in ("pil", "array"):
        raise ValueError(f"as_ must be 'pil' or 'array'; got {as_!r}")
    body = {**_given(**inputs), "format": "zip" if as_ == "pil" else "npz"}
    response = yield _Call("POST", f"/v1/models/{_segment(model_id)}/generate", json=body)
    return _pil_images(response.content) if as_ == "pil" else _generated(response)


class _Counting:
    """A file that reports how many bytes have been written to it so far (a download's progress)."""

    def __init__(self, file: IO[bytes], on_bytes: Callable[[int], Any]):
        self.file, self.on_bytes, self.written = file, on_bytes, 0

    def write(self, chunk: bytes) -> int:
        self.written += self.file.write(chunk)
        self.on_bytes(self.written)
        return len(chunk)


def _augment_request(mix: str, counts: Mapping[str, int] | None, total: int | None, seed: int | None,
                     truncation: float | None) -> dict:
    if mix not in ("synthetic", "recommended"):
        raise ValueError(f"mix must be 'synthetic' or 'recommended'; got {mix!r}")
    if mix == "recommended" and (counts is not None or total is not None):
        raise ValueError("mix 'recommended': the model's augmentation report decides the counts; leave out counts "
                         "and total")
    # "synthetic" is the server's default: left out, so a server older than mixes takes the request too
    return {"mix": None if mix == "synthetic" else mix, "counts": counts, "total": total, "seed": seed,
            "truncation": truncation}


def _augment(model_id: str, folder: str | os.PathLike, format: str, request: dict,
             on_bytes: Callable[[int], Any] | None = None) -> _Op[Augmented]:
    call = {"json": {**_given(**request), "format": format}}
    return (yield from _archive_into(f"/v1/models/{_segment(model_id)}/augment", call, model_id, folder, format,
                                     "augment", on_bytes))


def _vary_dataset(model_id: str, images: Any, folder: str | os.PathLike, format: str, options: dict,
                  on_bytes: Callable[[int], Any] | None = None) -> _Op[Augmented]:
    name, payload = _translation_input(images)
    call = {"files": {"file": (name, payload, "application/octet-stream")},
            "data": {**{k: str(v) for k, v in options.items()}, "format": format}}
    return (yield from _archive_into(f"/v1/models/{_segment(model_id)}/variations", call, model_id, folder, format,
                                     "variations", on_bytes))


def _variations(model_id: str, images: Any, options: dict) -> _Op[list[list[Image.Image]]]:
    name, payload = _translation_input(images)
    response = yield _Call("POST", f"/v1/models/{_segment(model_id)}/variations",
                           files={"file": (name, payload, "application/octet-stream")},
                           data={**{k: str(v) for k, v in options.items()}, "format": "json"})
    return [[_decoded(base64.b64decode(png)) for png in row] for row in response.json()["variations"]]


def _archive_into(route: str, call: dict, model_id: str, folder: str | os.PathLike, format: str, name: str,
                  on_bytes: Callable[[int], Any] | None) -> _Op[Augmented]:
    """POSTs `call` and streams the zip or npz it answers into `folder` (a zip unpacked, an npz as <name>.npz)."""
    if format not in ("zip", "npz"):
        raise ValueError(f"format must be 'zip' or 'npz'; got {format!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    # Spooled to disk, never held in memory, and beside its destination so an npz is moved into place by a
    # rename; removed whatever happens, the drivers close this generator on any error.
    spool = tempfile.NamedTemporaryFile(dir=folder, prefix=f".{name}-", suffix=".part", delete=False)
    try:
        with spool:
            into = _Counting(spool, on_bytes) if on_bytes else spool
            response = yield _Call("POST", route, into=into, **call)
        if format == "npz":
            path, manifest = folder / f"{name}.npz", None
            os.replace(spool.name, path)
        else:
            path, manifest = folder, _extract_zip(Path(spool.name), folder)
    finally:
        Path(spool.name).unlink(missing_ok=True)
    headers = response.headers
    return Augmented(path, headers.get("x-model-id", model_id), _int_header(response, "x-seed"),
                     _int_header(response, "x-image-count") or 0, manifest,
                     report_id=headers.get("x-augmentation-report"), mix_row=headers.get("x-mix-row"),
                     measured_gain=headers.get("x-measured-gain"), warning=headers.get("x-augmentation-warning"))


def _upload_dataset(path: str | os.PathLike, options: dict[str, Any]) -> _Op[dict]:
    path = Path(path)
    with path.open("rb") as file:  # httpx streams it from disk
        response = yield _Call("POST", "/v1/datasets", files={"file": (path.name, file)},
                               data={k: str(v) for k, v in options.items() if v is not None})
    return response.json()


def _export_model(model_id: str, format: str, path: str | os.PathLike) -> _Op[Path]:
    path = Path(path)
    # Spooled beside its destination and renamed into place: a failed download leaves no half file.
    spool = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}-", suffix=".part", delete=False)
    try:
        with spool:
            yield _Call("GET", f"/v1/models/{_segment(model_id)}/export", params={"format": format}, into=spool)
        os.replace(spool.name, path)
    finally:
        Path(spool.name).unlink(missing_ok=True)
    return path


def _import_model(path: str | os.PathLike, fields: dict[str, Any]) -> _Op[dict]:
    path = Path(path)
    form = {k: v if isinstance(v, str) else json.dumps(_plain(v)) for k, v in fields.items() if v is not None}
    with path.open("rb") as file:  # httpx streams it from disk
        response = yield _Call("POST", "/v1/models/import", files={"file": (path.name, file)}, data=form)
    return response.json()


# Building requests and reading responses.

def _given(**fields: Any) -> dict[str, Any]:
    """The fields the caller set, made JSON-ready (numpy arrays become lists)."""
    return {k: _plain(v) for k, v in fields.items() if v is not None}


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_plain(v) for v in value]
    return value


def _segment(identifier: str) -> str:
    # An id is one path segment: a stray "/" or "?" must not reach another route.
    return quote(identifier, safe="")


def _int_header(response: httpx.Response, name: str) -> int | None:
    value = response.headers.get(name)
    return int(value) if value is not None else None


def _problem(response: httpx.Response) -> GANForgeError:
    """The error for a 4xx/5xx response; its body must have been read."""
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    detail = body.get("detail") if isinstance(body, dict) else body
    if detail in (None, ""):  # not a problem document (a proxy's page, say): the status line is all there is
        detail = response.reason_phrase
    elif not isinstance(detail, str):
        detail = json.dumps(detail)
    return GANForgeError(response.status_code, detail, body, response.headers)


def _translate(model_id: str, images: Any, direction: str, resize: str) -> _Op[list[Image.Image]]:
    name, payload = _translation_input(images)
    response = yield _Call("POST", f"/v1/models/{_segment(model_id)}/translate",
                           files={"file": (name, payload, "application/octet-stream")},
                           data={"direction": direction, "resize": resize, "format": "zip"})
    return _pil_images(response.content)


def _translation_input(images: Any) -> tuple[str, bytes]:
    """A translate request's file: a ZIP of PNGs for PIL images, an NPZ for an array, a file's own bytes."""
    if isinstance(images, (str, os.PathLike)):
        path = Path(images)
        return path.name, path.read_bytes()
    if isinstance(images, bytes):
        return "input", images
    if isinstance(images, np.ndarray):
        buffer = io.BytesIO()
        np.savez(buffer, images=images)
        return "input.npz", buffer.getvalue()
    images = [images] if isinstance(images, Image.Image) else list(images)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i, image in enumerate(images):
            encoded = io.BytesIO()
            image.save(encoded, format="PNG")
            archive.writestr(f"{i:06d}.png", encoded.getvalue())
    return "input.zip", buffer.getvalue()


def _pil_images(content: bytes) -> list[Image.Image]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        # Entries are 000000.png, 000001.png, ... in request order, beside manifest.json.
        names = sorted(name for name in archive.namelist() if name.endswith(".png"))
        return [_decoded(archive.read(name)) for name in names]


def _decoded(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()  # decode now: the caller gets a plain image, not a lazy one tied to a buffer
    return image


def _generated(response: httpx.Response) -> Generated:
    with np.load(io.BytesIO(response.content), allow_pickle=False) as arrays:
        found = {name: arrays[name] for name in arrays.files}
    classes = found.get("classes")
    return Generated(images=found.get("images"), latents=found.get("latents"), seed=_int_header(response, "x-seed"),
                     labels=found.get("labels"), classes=None if classes is None else classes.tolist(),
                     categorical=found.get("categorical"), continuous=found.get("continuous"),
                     points=found.get("points"), ws=found.get("ws"), psi=found.get("psi"))


def _extract_zip(archive_path: Path, folder: Path) -> dict | None:
    """Unpacks the archive into `folder`, refusing it whole if any entry would land outside; its manifest."""
    root = folder.resolve()
    with zipfile.ZipFile(archive_path) as archive:
        members = [(info, _destination(root, info.filename)) for info in archive.infolist()]
        for info, destination in members:
            if info.is_dir():
                destination.mkdir(parents=True, exist_ok=True)
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source, destination.open("wb") as target:
                shutil.copyfileobj(source, target, _CHUNK)
        manifest = archive.read("manifest.json") if "manifest.json" in archive.namelist() else None
    return json.loads(manifest) if manifest is not None else None


def _destination(root: Path, name: str) -> Path:
    parts = PurePosixPath(name).parts
    if not parts or name.startswith("/") or "\\" in name or ":" in name or ".." in parts:
        raise ValueError(f"refusing to unpack archive entry {name!r}: not a plain relative path")
    destination = root.joinpath(*parts).resolve()
    if destination == root or not destination.is_relative_to(root):  # e.g. through a symlink already there
        raise ValueError(f"refusing to unpack archive entry {name!r}: it would land outside {root}")
    return destination


# The two drivers.

class Client:
    """Blocking client. `with Client(base_url, api_key) as gf: gf.wait(gf.submit_job("mnist")["id"])`."""

    def __init__(self, base_url: str = DEFAULT_URL, api_key: str | None = None,
                 timeout: float | httpx.Timeout = DEFAULT_TIMEOUT, *, transport: httpx.BaseTransport | None = None):
        self._http = httpx.Client(**_http_options(base_url, api_key, timeout), transport=transport)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def submit_job(self, dataset: str, model: dict | None = None, train: dict | None = None,
                   idempotency_key: str | None = None, hold_out: bool | None = None) -> dict:
        """Queues a training job; returns the job (its `id`, `status` "queued", the resolved `spec`).
        `hold_out=True` keeps a labelled image set's evaluation split out of training (for an augmentation
        report on images the GAN never saw)."""
        return self._run(_submit_job(dataset, model, train, idempotency_key, hold_out))

    def job(self, job_id: str) -> dict:
        """A job's status, progress, error and, once succeeded, `model_id`."""
        return self._run(_get(f"/v1/jobs/{_segment(job_id)}"))

    def cancel(self, job_id: str) -> dict:
        """Cancels a queued or running job; returns it ("cancelled", or "cancelling" while it stops)."""
        return self._run(_cancel(job_id))

    def wait(self, job_id: str, on_progress: Progress | None = None, poll_s: float = 1.0,
             timeout_s: float | None = None, on_waiting: Progress | None = None) -> dict:
        """Polls until the job ends; returns it if it succeeded, else raises JobFailed (TimeoutError past
        `timeout_s`). `on_progress(job)` is called on each poll where the job's progress changed, and
        `on_waiting(job)` on each poll where a queued job's `waiting` changed: what it waits for, e.g.
        `{"for": "reference classifier", "dataset": ..., "epoch": 3, "epochs": 8, "eta_s": 12.6}`, then
        `{"for": "a worker", ...}`."""
        return self._run(_wait(job_id, on_progress, poll_s, timeout_s, on_waiting))

    def jobs(self, limit: int = 50) -> list[dict]:
        """The most recent jobs, newest first."""
        return self._run(_list_jobs(limit))

    def models(self) -> list[dict]:
        """The model cards, newest first."""
        return self._run(_get("/v1/models", "models"))

    def model(self, model_id: str) -> dict:
        """One model's card: arch, latent_dim, kind, image_shape, classes, inputs, training, metrics."""
        return self._run(_get(f"/v1/models/{_segment(model_id)}"))

    def generate(self, model_id: str, n: int | None = None, seed: int | None = None, latents: Any = None,
                 labels: Any = None, codes: dict | None = None, truncation: float | None = None,
                 as_: Literal["pil", "array"] = "pil", *, ws: Any = None, psi: float | list[float] | None = None,
                 psi_cutoff: int | None = None) -> list[Image.Image] | Generated:
        """Images from `latents`, or `n` from `seed` (or a style-based model's `ws`, e.g. a projection's): PIL
        images in request order (`as_="pil"`), or a Generated with a N×H×W×C uint8 array and the latents,
        labels and seed used (`as_="array"`). `psi` truncates a style-based model's ws towards the mean w."""
        inputs = {"n": n, "seed": seed, "latents": latents, "labels": labels, "codes": codes,
                  "truncation": truncation, "ws": _listed(ws), "psi": psi, "psi_cutoff": psi_cutoff}
        return self._run(_generate(model_id, as_, inputs))

    def style_mix(self, model_id: str, rows: list[dict], columns: list[dict],
                  from_columns: str | list[int] = "fine", psi: float | None = None, labels: Any = None) -> bytes:
        """A style-based model's style-mix figure as one PNG: each row source (`{"seed": 1}`, `{"latent": [...]}`
        or `{"ws": [...]}`) with the `from_columns` styles of each column source."""
        return self._run(_style_mix(model_id, {"rows": rows, "columns": columns, "from_columns": from_columns,
                                               "psi": psi, "labels": labels}))

    def project(self, model_id: str, image: bytes | None = None, dataset_index: int | None = None,
                steps: int = 300, space: Literal["w", "w+"] = "w", seed: int = 0, poll_s: float = 1.0) -> dict:
        """Projects an image (encoded bytes: PNG, JPEG, ...) or the model's training image `dataset_index` into
        a style-based model and waits; returns the job's result: `ws`, `reconstruction_png`, `distance`."""
        return self._run(_project(model_id, _projection(image, dataset_index, steps, space, seed), poll_s))

    def grid(self, model_id: str, n: int = 16, seed: int | None = None, labels: Any = None,
             truncation: float | None = None, nrow: int | None = None) -> bytes:
        """`n` images from `seed` as one PNG grid (`nrow` per row)."""
        return self._run(_grid(model_id, {"n": n, "seed": seed, "labels": labels, "truncation": truncation,
                                          "nrow": nrow}))

    def augment(self, model_id: str, folder: str | os.PathLike, counts: Mapping[str, int] | None = None,
                total: int | None = None, seed: int | None = None, truncation: float | None = None,
                format: Literal["zip", "npz"] = "zip", on_bytes: Callable[[int], Any] | None = None,
                mix: Literal["synthetic", "recommended"] = "synthetic") -> Augmented:
        """Generates a synthetic data set into `folder`, streamed to disk: zip → `<class>/000000.png`, ... and
        manifest.json; npz → `augment.npz`. `counts` per class, or a `total` balanced across classes.
        `mix="recommended"` (no counts or total) gets the data set's own images plus what the model's latest
        augmentation report recommends adding (zip → `<class>/<source>_000000.png`, source real, repeated,
        deformed or synthetic); the result's `report_id`, `mix_row` and `measured_gain` say which. `warning` is
        set when the report measured plain synthetic data lowering accuracy. `on_bytes(received)` is called as
        the download proceeds."""
        request = _augment_request(mix, counts, total, seed, truncation)
        return self._run(_augment(model_id, folder, format, request, on_bytes))

    def evaluate(self, model_id: str, metrics: Sequence[str] | None = None, samples: int | None = None,
                 features: Literal["classifier", "inception"] | None = None, seed: int | None = None, *,
                 wait: bool = True, on_progress: Progress | None = None, poll_s: float = 1.0,
                 timeout_s: float | None = None) -> dict:
        """Scores a model in an evaluation job (`metrics` default: what suits its data); returns the succeeded
        job, its `result` holding the scores (with `wait=False`, the queued job). Raises JobFailed as `wait`."""
        request = {"metrics": metrics, "samples": samples, "features": features, "seed": seed}
        return self._run(_evaluate(model_id, request, wait, on_progress, poll_s, timeout_s))

    def augmentation_report(self, model_id: str, seeds: int = 3, dataset: str | None = None,
                            rare_classes: Sequence[str] | None = None, *, wait: bool = True,
                            on_progress: Progress | None = None, poll_s: float = 1.0,
                            timeout_s: float | None = None) -> dict:
        """Makes a class-conditional model's augmentation report (a small classifier trained with and without
        classic and synthetic augmentation, on `seeds` seeds, tested on held-out real images of `dataset`,
        default the model's own) and waits: returns the succeeded job, whose `result` holds `rows`,
        `best_classic`, `recommended` ({row, gain, spread, words}), `notes` and `mix` (with `wait=False`, the
        queued job). Minutes on a CPU. Afterwards `augment(..., mix="recommended")` hands out that mix."""
        request = _report_request(seeds, dataset, rare_classes)
        return self._run(_evaluate(model_id, request, wait, on_progress, poll_s, timeout_s))

    def translate(self, model_id: str, images: Any, direction: Literal["a2b", "b2a"] = "a2b",
                  resize: Literal["crop", "pad"] = "crop") -> list[Image.Image]:
        """A translator's outputs (pix2pix, CycleGAN, SRGAN), in the order of the inputs: `images` is a PIL
        image, a list of them, a N x H x W (x C) uint8 array, or the path or bytes of an image, ZIP or NPZ."""
        return self._run(_translate(model_id, images, direction, resize))

    def variations(self, model_id: str, images: Any, n: int = 4, seed: int = 0,
                   resize: Literal["crop", "pad"] = "crop") -> list[list[Image.Image]]:
        """An augmenter's (DAGAN) `n` variations of each input, a list per input in their order; `images` as for
        translate. The same seed gives the same variations."""
        return self._run(_variations(model_id, images, {"n": n, "seed": seed, "resize": resize}))

    def vary_dataset(self, model_id: str, images: Any, folder: str | os.PathLike, n: int = 4, seed: int = 0,
                     format: Literal["zip", "npz"] = "zip", on_bytes: Callable[[int], Any] | None = None) -> Augmented:
        """Grows a small labelled set (a ZIP with a folder per class, or an NPZ with `images` and `labels`; any
        input translate takes) into `n` variations of each image, streamed into `folder`: zip → `<class>/
        <input>-<variation>.png` and manifest.json; npz → `variations.npz` (images, labels, source, latents)."""
        return self._run(_vary_dataset(model_id, images, folder, format, {"n": n, "seed": seed}, on_bytes))

    def upload_dataset(self, path: str | os.PathLike, **options: Any) -> dict:
        """Uploads a ZIP or NPZ as a data set (options: image_size, channels, resize, background, name, layout:
        `domains` / `side-by-side` for a translator's pairs); returns its manifest, whose `id` a job's
        `dataset` takes."""
        return self._run(_upload_dataset(path, options))

    def export_model(self, model_id: str, format: Literal["onnx", "torchscript", "safetensors"] = "onnx",
                     path: str | os.PathLike | None = None) -> Path:
        """Downloads the model's generator as a ZIP that runs without GANForge (the onnx, torchscript or
        safetensors file, card.json and a README.txt of its inputs) to `path` (default `<id>-<format>.zip`)."""
        return self._run(_export_model(model_id, format, path or f"{model_id}-{format}.zip"))

    def import_model(self, path: str | os.PathLike, model: dict | None = None, image_shape: Sequence[int] | None = None,
                     classes: Sequence[str] | None = None, source_shape: Sequence[int] | None = None,
                     name: str | None = None, dataset: str | None = None) -> dict:
        """Registers a generator trained elsewhere (safetensors, or a state dict saved with torch.save) with its
        model config (a training job's `model`) and image shape ((C, H, W)); `classes` for a conditional model,
        `dataset` to score it against. A safetensors file GANForge exported needs neither. Returns its card."""
        return self._run(_import_model(path, {"model": model, "image_shape": image_shape, "classes": classes,
                                              "source_shape": source_shape, "name": name, "dataset": dataset}))

    def _run(self, operation: _Op[T]) -> T:
        advance, reply = operation.send, None
        with closing(operation):
            while True:
                try:
                    step = advance(reply)
                except StopIteration as done:
                    return done.value
                try:
                    advance, reply = operation.send, self._perform(step)
                except Exception as error:  # the operation's to handle: retry, or clean up and re-raise
                    advance, reply = operation.throw, error

    def _perform(self, step: _Step) -> httpx.Response | None:
        if isinstance(step, _Sleep):
            time.sleep(step.seconds)
        elif isinstance(step, _Notify):
            step.callback(step.job)
        elif step.into is None:
            response = self._http.request(step.method, step.path, **step.httpx_args())
            if response.is_error:
                raise _problem(response)
            return response
        else:
            with self._http.stream(step.method, step.path, **step.httpx_args()) as response:
                if response.is_error:
                    response.read()
                    raise _problem(response)
                for chunk in response.iter_bytes(_CHUNK):
                    step.into.write(chunk)
                return response
        return None


class AsyncClient:
    """The same methods as Client, awaitable; `on_progress` may be a plain function or a coroutine function."""

    def __init__(self, base_url: str = DEFAULT_URL, api_key: str | None = None,
                 timeout: float | httpx.Timeout = DEFAULT_TIMEOUT, *,
                 transport: httpx.AsyncBaseTransport | None = None):
        self._http = httpx.AsyncClient(**_http_options(base_url, api_key, timeout), transport=transport)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def submit_job(self, dataset: str, model: dict | None = None, train: dict | None = None,
                         idempotency_key: str | None = None, hold_out: bool | None = None) -> dict:
        """See Client.submit_job."""
        return await self._run(_submit_job(dataset, model, train, idempotency_key, hold_out))

    async def job(self, job_id: str) -> dict:
        """See Client.job."""
        return await self._run(_get(f"/v1/jobs/{_segment(job_id)}"))

    async def cancel(self, job_id: str) -> dict:
        """See Client.cancel."""
        return await self._run(_cancel(job_id))

    async def wait(self, job_id: str, on_progress: Progress | None = None, poll_s: float = 1.0,
                   timeout_s: float | None = None, on_waiting: Progress | None = None) -> dict:
        """See Client.wait."""
        return await self._run(_wait(job_id, on_progress, poll_s, timeout_s, on_waiting))

    async def jobs(self, limit: int = 50) -> list[dict]:
        """See Client.jobs."""
        return await self._run(_list_jobs(limit))

    async def grid(self, model_id: str, n: int = 16, seed: int | None = None, labels: Any = None,
                   truncation: float | None = None, nrow: int | None = None) -> bytes:
        """See Client.grid."""
        return await self._run(_grid(model_id, {"n": n, "seed": seed, "labels": labels, "truncation": truncation,
                                                "nrow": nrow}))

    async def translate(self, model_id: str, images: Any, direction: Literal["a2b", "b2a"] = "a2b",
                        resize: Literal["crop", "pad"] = "crop") -> list[Image.Image]:
        """See Client.translate."""
        return await self._run(_translate(model_id, images, direction, resize))

    async def models(self) -> list[dict]:
        """See Client.models."""
        return await self._run(_get("/v1/models", "models"))

    async def model(self, model_id: str) -> dict:
        """See Client.model."""
        return await self._run(_get(f"/v1/models/{_segment(model_id)}"))

    async def generate(self, model_id: str, n: int | None = None, seed: int | None = None, latents: Any = None,
                       labels: Any = None, codes: dict | None = None, truncation: float | None = None,
                       as_: Literal["pil", "array"] = "pil", *, ws: Any = None,
                       psi: float | list[float] | None = None, psi_cutoff: int | None = None
                       ) -> list[Image.Image] | Generated:
        """See Client.generate."""
        inputs = {"n": n, "seed": seed, "latents": latents, "labels": labels, "codes": codes,
                  "truncation": truncation, "ws": _listed(ws), "psi": psi, "psi_cutoff": psi_cutoff}
        return await self._run(_generate(model_id, as_, inputs))

    async def style_mix(self, model_id: str, rows: list[dict], columns: list[dict],
                        from_columns: str | list[int] = "fine", psi: float | None = None, labels: Any = None) -> bytes:
        """See Client.style_mix."""
        return await self._run(_style_mix(model_id, {"rows": rows, "columns": columns, "from_columns": from_columns,
                                                     "psi": psi, "labels": labels}))

    async def project(self, model_id: str, image: bytes | None = None, dataset_index: int | None = None,
                      steps: int = 300, space: Literal["w", "w+"] = "w", seed: int = 0, poll_s: float = 1.0) -> dict:
        """See Client.project."""
        return await self._run(_project(model_id, _projection(image, dataset_index, steps, space, seed), poll_s))

    async def augment(self, model_id: str, folder: str | os.PathLike, counts: Mapping[str, int] | None = None,
                      total: int | None = None, seed: int | None = None, truncation: float | None = None,
                      format: Literal["zip", "npz"] = "zip",
                      on_bytes: Callable[[int], Any] | None = None,
                      mix: Literal["synthetic", "recommended"] = "synthetic") -> Augmented:
        """See Client.augment. Writing to disk blocks the event loop briefly, chunk by chunk."""
        request = _augment_request(mix, counts, total, seed, truncation)
        return await self._run(_augment(model_id, folder, format, request, on_bytes))

    async def evaluate(self, model_id: str, metrics: Sequence[str] | None = None, samples: int | None = None,
                       features: Literal["classifier", "inception"] | None = None, seed: int | None = None, *,
                       wait: bool = True, on_progress: Progress | None = None, poll_s: float = 1.0,
                       timeout_s: float | None = None) -> dict:
        """See Client.evaluate."""
        request = {"metrics": metrics, "samples": samples, "features": features, "seed": seed}
        return await self._run(_evaluate(model_id, request, wait, on_progress, poll_s, timeout_s))

    async def augmentation_report(self, model_id: str, seeds: int = 3, dataset: str | None = None,
                                  rare_classes: Sequence[str] | None = None, *, wait: bool = True,
                                  on_progress: Progress | None = None, poll_s: float = 1.0,
                                  timeout_s: float | None = None) -> dict:
        """See Client.augmentation_report."""
        request = _report_request(seeds, dataset, rare_classes)
        return await self._run(_evaluate(model_id, request, wait, on_progress, poll_s, timeout_s))

    async def variations(self, model_id: str, images: Any, n: int = 4, seed: int = 0,
                         resize: Literal["crop", "pad"] = "crop") -> list[list[Image.Image]]:
        """See Client.variations."""
        return await self._run(_variations(model_id, images, {"n": n, "seed": seed, "resize": resize}))

    async def vary_dataset(self, model_id: str, images: Any, folder: str | os.PathLike, n: int = 4, seed: int = 0,
                           format: Literal["zip", "npz"] = "zip",
                           on_bytes: Callable[[int], Any] | None = None) -> Augmented:
        """See Client.vary_dataset."""
        return await self._run(_vary_dataset(model_id, images, folder, format, {"n": n, "seed": seed}, on_bytes))

    async def upload_dataset(self, path: str | os.PathLike, **options: Any) -> dict:
        """See Client.upload_dataset."""
        return await self._run(_upload_dataset(path, options))

    async def export_model(self, model_id: str, format: Literal["onnx", "torchscript", "safetensors"] = "onnx",
                           path: str | os.PathLike | None = None) -> Path:
        """See Client.export_model."""
        return await self._run(_export_model(model_id, format, path or f"{model_id}-{format}.zip"))

    async def import_model(self, path: str | os.PathLike, model: dict | None = None,
                           image_shape: Sequence[int] | None = None, classes: Sequence[str] | None = None,
                           source_shape: Sequence[int] | None = None, name: str | None = None,
                           dataset: str | None = None) -> dict:
        """See Client.import_model."""
        return await self._run(_import_model(path, {"model": model, "image_shape": image_shape, "classes": classes,
                                                    "source_shape": source_shape, "name": name,
                                                    "dataset": dataset}))

    async def _run(self, operation: _Op[T]) -> T:
        advance, reply = operation.send, None
        with closing(operation):
            while True:
                try:
                    step = advance(reply)
                except StopIteration as done:
                    return done.value
                try:
                    advance, reply = operation.send, await self._perform(step)
                except Exception as error:  # the operation's to handle: retry, or clean up and re-raise
                    advance, reply = operation.throw, error

    async def _perform(self, step: _Step) -> httpx.Response | None:
        if isinstance(step, _Sleep):
            await asyncio.sleep(step.seconds)
        elif isinstance(step, _Notify):
            outcome = step.callback(step.job)
            if inspect.isawaitable(outcome):
                await outcome
        elif step.into is None:
            response = await self._http.request(step.method, step.path, **step.httpx_args())
            if response.is_error:
                raise _problem(response)
            return response
        else:
            async with self._http.stream(step.method, step.path, **step.httpx_args()) as response:
                if response.is_error:
                    await response.aread()
                    raise _problem(response)
                async for chunk in response.aiter_bytes(_CHUNK):
                    step.into.write(chunk)
                return response
        return None


def _http_options(base_url: str, api_key: str | None, timeout: float | httpx.Timeout) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    return {"base_url": base_url, "headers": headers, "timeout": timeout}
