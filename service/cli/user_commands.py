"""The `ganforge` commands for people at a terminal: train (and follow), jobs, models, generate, augment.

They talk to a running API through the Python client (ganforge_client, in client/), found at --url, else
GANFORGE_URL, else the `ganforge up` running on the data dir, else http://127.0.0.1:8000; the key comes
from --key or GANFORGE_API_KEY.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

from ganforge_client import DEFAULT_URL, Client, GANForgeError, JobFailed

from core.settings import get_settings
from service.cli.local_stack import read_state

BAR_WIDTH = 24

# The built-in data sets (models.data.BUILTIN_DATASETS; a test keeps this in step), named here so that the command
# line does not import torch to print its help.
BUILTINS = ("mnist", "digits", "ring8", "grid25", "digits-stripes", "edges-digits", "digits-14to28", "shapes")


def add_commands(commands, command) -> None:
    """Adds the subcommands to the `ganforge` parser (`command(name, summary)` makes one)."""
    train = command("train", "Submit a training job; with --follow, show its progress until it ends, then the "
                             "model id. Ctrl-C stops following, never the job.")
    train.add_argument("dataset", help=f"a built-in data set ({', '.join(BUILTINS)}) or an uploaded one's id")
    train.add_argument("--arch", help="the GAN family (default: the API's, dcgan)")
    train.add_argument("--model", action="append", default=[], metavar="FIELD=VALUE",
                       help="a model setting, e.g. --model latent_dim=64 (repeat for more; values read as JSON)")
    train.add_argument("--train", action="append", default=[], metavar="FIELD=VALUE",
                       help="a training setting, e.g. --train epochs=5")
    train.add_argument("--follow", action="store_true", help="show progress until the job ends")
    jobs = command("jobs", "List recent jobs: id, status, progress, model.")
    jobs.add_argument("--limit", type=int, default=20)
    command("models", "List trained models: id, family, data set and their scores.")
    generate = command("generate", "Draw images from a model into a PNG grid.")
    generate.add_argument("model_id")
    generate.add_argument("-n", type=int, default=16, help="how many images")
    generate.add_argument("--seed", type=int, default=None, help="the same seed gives the same images")
    generate.add_argument("--labels", default=None, help="conditional models: a class for all images")
    generate.add_argument("--truncation", type=float, default=None)
    generate.add_argument("--nrow", type=int, default=None, help="images per row")
    generate.add_argument("-o", "--output", default="grid.png")
    augment = command("augment", "Download a labelled synthetic data set from a model into a folder.")
    augment.add_argument("model_id")
    augment.add_argument("--total", type=int, help="images in all, balanced across classes")
    augment.add_argument("--count", action="append", default=[], metavar="CLASS=N", help="images of one class")
    augment.add_argument("--seed", type=int, default=None)
    augment.add_argument("--format", choices=("zip", "npz"), default="zip")
    augment.add_argument("-o", "--output", default="augmented")
    for parser in (train, jobs, generate, augment, commands.choices["models"]):
        parser.add_argument("--url", help="the API (default: GANFORGE_URL, the local `ganforge up`, or "
                                          f"{DEFAULT_URL})")
        parser.add_argument("--key", help="an API key (default: GANFORGE_API_KEY)")


def run(args: argparse.Namespace) -> int:
    with Client(_url(args.url), args.key or os.environ.get("GANFORGE_API_KEY")) as client:
        try:
            return {"train": _train, "jobs": _jobs, "models": _models, "generate": _generate,
                    "augment": _augment}[args.command](client, args)
        except GANForgeError as error:
            print(f"ganforge: {error}", file=sys.stderr)
            return 1


def _url(flag: str | None) -> str:
    if flag or os.environ.get("GANFORGE_URL"):
        return flag or os.environ["GANFORGE_URL"]
    state = read_state(get_settings().data_dir)
    return state["api_url"] if state else DEFAULT_URL


def _settings(pairs: list[str], what: str) -> dict:
    settings = {}
    for pair in pairs:
        field, equals, value = pair.partition("=")
        if not equals or not field:
            raise SystemExit(f"ganforge: --{what} takes FIELD=VALUE; got {pair!r}")
        try:
            settings[field] = json.loads(value)
        except json.JSONDecodeError:
            settings[field] = value  # a bare word: a string
    return settings


def _train(client: Client, args) -> int:
    model = _settings(args.model, "model") | ({"arch": args.arch} if args.arch else {})
    job = client.submit_job(args.dataset, model or None, _settings(args.train, "train") or None)
    print(f"job {job['id']} queued ({job['spec']['model']['arch'] or 'dcgan'} on {args.dataset})", flush=True)
    if not args.follow:
        return 0
    # Ctrl-C detaches, even where SIGINT was inherited as ignored (a command started in the background by a shell).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        done = client.wait(job["id"], on_progress=_show_progress, poll_s=0.5)
    except JobFailed as failed:
        print(f"\njob {job['id']} {failed.job['status']}: {failed.job.get('error') or ''}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\nstopped following; job {job['id']} goes on (ganforge jobs, or cancel it with the API)")
        return 130
    print(f"\njob {job['id']} succeeded: model {done['model_id']}")
    return 0


def _show_progress(job: dict) -> None:
    p = job["progress"]
    done = p.get("step", 0) / max(p.get("total_steps") or 1, 1)
    bar = "#" * round(done * BAR_WIDTH)
    parts = [f"epoch {p.get('epoch', '?')}/{p.get('epochs', '?')}", f"step {p.get('step', 0)}/{p.get('total_steps')}",
             f"[{bar:<{BAR_WIDTH}}] {done:4.0%}"]
    for field, label in (("loss_d", "D"), ("loss_g", "G"), ("d_real", "D(x)"), ("d_fake", "D(G(z))")):
        if isinstance(p.get(field), int | float):
            parts.append(f"{label} {p[field]:.3f}")
    if isinstance(p.get("eta_s"), int | float):
        parts.append(f"ETA {_duration(p['eta_s'])}")
    print("\r" + "  ".join(parts), end="", flush=True)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _jobs(client: Client, args) -> int:
    for job in client.jobs(args.limit):
        p = job.get("progress") or {}
        print(f"{job['id']}  {job['status']:<10} step {p.get('step', 0)}/{p.get('total_steps', '?'):<8} "
              f"{job['spec'].get('dataset', ''):<12} {job.get('model_id') or ''}")
    return 0


def _models(client: Client, args) -> int:
    for card in client.models():
        scores = (card.get("metrics") or {}).get("scores", {})
        shown = "  ".join(f"{k} {v + 0.0:.3g}" for k, v in scores.items() if isinstance(v, int | float))  # no -0
        dataset = (card.get("dataset") or {}).get("id", "")
        print(f"{card['id']}  {card['arch']:<8} {dataset:<12} {shown}")
    return 0


def _generate(client: Client, args) -> int:
    started = time.perf_counter()
    png = client.grid(args.model_id, n=args.n, seed=args.seed, labels=args.labels, truncation=args.truncation,
                      nrow=args.nrow)
    Path(args.output).write_bytes(png)
    print(f"{args.n} images from {args.model_id} in {args.output} ({time.perf_counter() - started:.1f} s)")
    return 0


def _augment(client: Client, args) -> int:
    counts = {name: int(n) for name, n in (pair.split("=", 1) for pair in args.count)} or None
    started = time.perf_counter()

    def show(received: int) -> None:
        mib, elapsed = received / 2**20, time.perf_counter() - started
        print(f"\rdownloading: {mib:.1f} MiB in {elapsed:.1f} s ({mib / max(elapsed, 1e-3):.1f} MiB/s)", end="",
              flush=True)

    result = client.augment(args.model_id, args.output, counts=counts, total=args.total, seed=args.seed,
                            format=args.format, on_bytes=show)
    print(f"\n{result.image_count} images (seed {result.seed}) in {result.path}")
    return 0
