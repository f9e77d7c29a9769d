"""The `ganforge` commands for people at a terminal: train (and follow), jobs, models, generate, augment,
evaluate (an augmentation report among them), export and import.

They talk to a running API through the Python client (ganforge_client, in client/), found at --url, else
GANFORGE_URL, else the `ganforge up` running on the data dir (or, the data dir not named, the one this user
started last: service.cli.local_stack), else http://127.0.0.1:8000; the key comes from --key or GANFORGE_API_KEY.
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
from service.cli.local_stack import data_dir_chosen, read_state
from service.cli.tables import table

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
    train.add_argument("--hold-out", action="store_true", help="labelled image sets: keep the data set's "
                       "evaluation split out of training, for an augmentation report on images the GAN never saw")
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
    augment = command("augment", "Download a labelled synthetic data set from a model into a folder; with --mix "
                                 "recommended, the data set plus what the model's augmentation report recommends.")
    augment.add_argument("model_id")
    augment.add_argument("--total", type=int, help="images in all, balanced across classes")
    augment.add_argument("--count", action="append", default=[], metavar="CLASS=N", help="images of one class")
    augment.add_argument("--mix", choices=("synthetic", "recommended"), default="synthetic",
                         help="synthetic: --total or --count images of the generator's; recommended: the data set's "
                              "own images plus what the model's latest augmentation report recommends adding (no "
                              "--total or --count; `ganforge evaluate MODEL --metrics augmentation_gain` makes one)")
    augment.add_argument("--seed", type=int, default=None)
    augment.add_argument("--format", choices=("zip", "npz"), default="zip")
    augment.add_argument("-o", "--output", default="augmented")
    evaluate = command("evaluate", "Score a model in an evaluation job and print the scores when it ends; with "
                                   "--metrics augmentation_gain, make its augmentation report and print the "
                                   "recommendation and each row. Ctrl-C stops waiting, never the job.")
    evaluate.add_argument("model_id")
    evaluate.add_argument("--metrics", action="append", default=[], metavar="NAME[,NAME]",
                          help="e.g. kid,fid or augmentation_gain (alone); default: what suits the model's data")
    evaluate.add_argument("--samples", type=int, help="generated samples to score (not for augmentation_gain)")
    evaluate.add_argument("--seed", type=int, help="seeds the samples (not for augmentation_gain)")
    evaluate.add_argument("--seeds", type=int, help="augmentation_gain: classifier seeds per row (default 3)")
    evaluate.add_argument("--dataset", help="augmentation_gain: the labelled data set to measure on (default: the "
                                            "model's own)")
    evaluate.add_argument("--rare-class", action="append", default=[], metavar="CLASS",
                          help="augmentation_gain: a class whose recall counts as rare-class recall (repeat for more)")
    evaluate.add_argument("--no-wait", action="store_true", help="print the job id and return")
    export = command("export", "Download a model's generator as a ZIP that runs without GANForge: the onnx, "
                               "torchscript or safetensors file, its card and a README of its inputs.")
    export.add_argument("model_id")
    export.add_argument("--format", choices=("onnx", "torchscript", "safetensors"), default="onnx")
    export.add_argument("-o", "--output", help="the ZIP (default: <model id>-<format>.zip)")
    imported = command("import", "Register a generator trained elsewhere (safetensors, or a state dict saved with "
                                 "torch.save; never unpickled beyond tensors) as a model that serves, scores and "
                                 "exports like a trained one.")
    imported.add_argument("file")
    imported.add_argument("--arch", help="the GAN family (default dcgan)")
    imported.add_argument("--model", action="append", default=[], metavar="FIELD=VALUE",
                          help="a model setting as a training job takes it, e.g. --model latent_dim=100 "
                               "--model g_width=64 (repeat for more)")
    imported.add_argument("--image-shape", metavar="C,H,W", help="the images it makes, e.g. 3,64,64 (2 for 2-D "
                                                                 "points); not needed for GANForge's safetensors")
    imported.add_argument("--classes", metavar="A,B,...", help="conditional models: the class names in label order")
    imported.add_argument("--source-shape", metavar="C,H,W", help="translators: the input images' shape")
    imported.add_argument("--name", help="a name kept in the card")
    imported.add_argument("--dataset", help="a data set to score it against (evaluations)")
    for parser in (train, jobs, generate, augment, evaluate, export, imported, commands.choices["models"]):
        parser.add_argument("--url", help="the API (default: GANFORGE_URL, the local `ganforge up`, or "
                                          f"{DEFAULT_URL})")
        parser.add_argument("--key", help="an API key (default: GANFORGE_API_KEY)")


def run(args: argparse.Namespace) -> int:
    with Client(_url(args.url), args.key or os.environ.get("GANFORGE_API_KEY")) as client:
        try:
            return {"train": _train, "jobs": _jobs, "models": _models, "generate": _generate,
                    "augment": _augment, "evaluate": _evaluate, "export": _export,
                    "import": _import}[args.command](client, args)
        except GANForgeError as error:
            print(f"ganforge: {error}", file=sys.stderr)
            return 1


def _url(flag: str | None) -> str:
    if flag or os.environ.get("GANFORGE_URL"):
        return flag or os.environ["GANFORGE_URL"]
    state = read_state(get_settings().data_dir, anywhere=not data_dir_chosen())
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
    job = client.submit_job(args.dataset, model or None, _settings(args.train, "train") or None,
                            hold_out=True if args.hold_out else None)
    print(f"job {job['id']} queued ({job['spec']['model']['arch'] or 'dcgan'} on {args.dataset})", flush=True)
    if not args.follow:
        return 0
    done, code = _waited(client, job["id"], _show_progress, 0.5, on_waiting=_show_waiting)
    if done:
        print(f"\njob {job['id']} succeeded: model {done['model_id']}")
    return code


def _waited(client: Client, job_id: str, on_progress=None, poll_s: float = 1.0,
            on_waiting=None) -> tuple[dict | None, int]:
    """(the succeeded job, 0), or (None, the exit code) when it failed or Ctrl-C stopped the waiting.
    `on_waiting(job)`: each new note of what the job waits for while it is queued (its `waiting`)."""
    # Ctrl-C detaches, even where SIGINT was inherited as ignored (a command started in the background by a shell).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return client.wait(job_id, on_progress=on_progress, poll_s=poll_s, on_waiting=on_waiting), 0
    except JobFailed as failed:
        print(f"\njob {job_id} {failed.job['status']}: {failed.job.get('error') or ''}", file=sys.stderr)
        return None, 1
    except KeyboardInterrupt:
        print(f"\nstopped waiting; job {job_id} goes on (ganforge jobs, or cancel it with the API)")
        return None, 130


def _show_waiting(job: dict) -> None:
    print(waiting_words(job["waiting"]), flush=True)


def waiting_words(waiting: dict) -> str:
    """'waiting for the reference classifier of ds_…: epoch 3/8, about 13 s left', or 'waiting for a worker'."""
    what = waiting.get("for") or "something"
    if what == "reference classifier":
        words = f"waiting for the reference classifier of {waiting.get('dataset') or 'its data set'}"
    else:
        words = f"waiting for {what}"
    progress = []
    if waiting.get("epoch") is not None and waiting.get("epochs"):
        progress.append(f"epoch {waiting['epoch']}/{waiting['epochs']}")
    if isinstance(waiting.get("eta_s"), int | float):
        progress.append(f"about {_duration(round(waiting['eta_s']))} left")
    return f"{words}: {', '.join(progress)}" if progress else words


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


NO_JOBS = "no jobs yet: ganforge train mnist --arch cgan --follow submits one"
NO_MODELS = "no models yet: train one with ganforge train mnist --arch cgan --follow"


def _jobs(client: Client, args) -> int:
    jobs = client.jobs(args.limit)
    print(jobs_table(jobs) if jobs else NO_JOBS)
    return 0


def jobs_table(jobs: list[dict], attempts: bool = False) -> str:
    """A row per job: id, status, steps, data set and model; with `attempts` (`ganforge status`), attempts, worker
    and error instead of data set and model."""
    def steps(job: dict) -> str:
        p = job.get("progress") or {}
        return f"{p.get('step', 0)}/{p.get('total_steps') or '?'}"

    if attempts:
        return table([("job", None), ("status", 10), ("steps", 13), ("attempts", 8), ("worker", 24), ("error", 34)],
                     ([j["id"], j["status"], steps(j), j.get("attempts") or 0, j.get("worker"), j.get("error")]
                      for j in jobs))
    return table([("job", None), ("status", 10), ("steps", 13), ("data set", 24), ("model", 24)],
                 ([j["id"], j["status"], steps(j), (j.get("spec") or {}).get("dataset"), j.get("model_id")]
                  for j in jobs))


def _models(client: Client, args) -> int:
    cards = client.models()
    if not cards:
        print(NO_MODELS)
        return 0
    print(table([("model", None), ("family", 12), ("data set", 22), ("scores", 52)],
                ([card["id"], card["arch"], (card.get("dataset") or {}).get("id"), _scores(card)] for card in cards)))
    return 0


def _scores(card: dict) -> str:
    scores = (card.get("metrics") or {}).get("scores", {})
    return "  ".join(f"{k} {v + 0.0:.3g}" for k, v in scores.items() if isinstance(v, int | float))  # no -0


def _generate(client: Client, args) -> int:
    started = time.perf_counter()
    png = client.grid(args.model_id, n=args.n, seed=args.seed, labels=args.labels, truncation=args.truncation,
                      nrow=args.nrow)
    Path(args.output).write_bytes(png)
    print(f"{args.n} images from {args.model_id} in {args.output} ({time.perf_counter() - started:.1f} s)")
    return 0


def _augment(client: Client, args) -> int:
    counts = {name: int(n) for name, n in (pair.split("=", 1) for pair in args.count)} or None
    if args.mix == "recommended" and (counts or args.total is not None):
        raise SystemExit("ganforge augment: --mix recommended takes its counts from the augmentation report; leave "
                         "out --total and --count")
    if args.mix == "synthetic" and (counts is None) == (args.total is None):
        raise SystemExit("ganforge augment: give --total or --count CLASS=N (or --mix recommended)")
    started = time.perf_counter()

    def show(received: int) -> None:
        mib, elapsed = received / 2**20, time.perf_counter() - started
        print(f"\rdownloading: {mib:.1f} MiB in {elapsed:.1f} s ({mib / max(elapsed, 1e-3):.1f} MiB/s)", end="",
              flush=True)

    result = client.augment(args.model_id, args.output, counts=counts, total=args.total, seed=args.seed,
                            format=args.format, on_bytes=show, mix=args.mix)
    if result.mix_row:
        print(f"\n{result.image_count} images in {result.path}: the data set and the {result.mix_row} row of "
              f"augmentation report {result.report_id} (measured gain {result.measured_gain})")
    else:
        print(f"\n{result.image_count} images (seed {result.seed}) in {result.path}")
    if result.warning:
        print(f"warning: {result.warning}", file=sys.stderr)
    return 0


def _export(client: Client, args) -> int:
    started = time.perf_counter()
    path = client.export_model(args.model_id, args.format, args.output)
    print(f"{args.model_id} as {args.format} in {path} ({time.perf_counter() - started:.1f} s; README.txt inside "
          "says what goes in and comes out)")
    return 0


def _import(client: Client, args) -> int:
    model = _settings(args.model, "model") | ({"arch": args.arch} if args.arch else {})
    card = client.import_model(args.file, model or None, _numbers(args.image_shape, "image-shape"),
                               classes=args.classes.split(",") if args.classes else None,
                               source_shape=_numbers(args.source_shape, "source-shape"), name=args.name,
                               dataset=args.dataset)
    print(f"model {card['id']} imported ({card['arch']}, {card['kind']}, {'x'.join(map(str, card['image_shape']))})")
    return 0


def _numbers(text: str | None, flag: str) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise SystemExit(f"ganforge import: --{flag} takes numbers separated by commas, e.g. 3,64,64; got {text!r}") \
            from None


REPORT_ONLY = ("seeds", "dataset", "rare_class")


def _evaluate(client: Client, args) -> int:
    metrics = [name.strip() for flag in args.metrics for name in flag.split(",") if name.strip()]
    report = metrics == ["augmentation_gain"]
    misplaced = [f"--{name.replace('_', '-')}" for name in (("samples", "seed") if report else REPORT_ONLY)
                 if getattr(args, name) not in (None, [])]
    if misplaced:
        raise SystemExit(f"ganforge evaluate: {', '.join(misplaced)} " + (
            "score generated samples; the augmentation report takes --seeds, --dataset and --rare-class" if report
            else "apply to --metrics augmentation_gain alone"))
    if report:
        seeds = 3 if args.seeds is None else args.seeds
        job = client.augmentation_report(args.model_id, seeds=seeds, dataset=args.dataset,
                                         rare_classes=args.rare_class or None, wait=False)
        what = f"augmentation report of {args.model_id}, {seeds} seeds: minutes on a CPU"
    else:
        job = client.evaluate(args.model_id, metrics or None, args.samples, seed=args.seed, wait=False)
        what = f"evaluation of {args.model_id}"
    print(f"job {job['id']} queued ({what})", flush=True)
    if args.no_wait:
        return 0
    done, code = _waited(client, job["id"])
    if not done:
        return code
    if report:
        _print_report(done["result"], args.model_id)
    else:
        for name, value in (done["result"].get("scores") or {}).items():
            print(f"{name:<24} {value + 0.0:.4g}" if isinstance(value, int | float) else f"{name:<24} {value}")
    return 0


def _print_report(result: dict, model_id: str) -> None:
    """The recommendation, a row per training set (balanced accuracy over the seeds, its paired change over real
    only, rare-class recall) and the report's notes."""
    recommended, best_classic = result["recommended"]["row"], result["best_classic"]
    print(f"recommended: {result['recommended']['words']}")
    print(f"{'row':<30} {'balanced accuracy':>18} {'vs real (points)':>17} {'rare recall':>14}")
    for row in result["rows"]:
        mark = " *" if row["name"] == recommended else " (best classic)" if row["name"] == best_classic else ""
        rare = _percent(row["rare_recall"]) if row["rare_recall"] else "-"
        print(f"{row['name']:<30} {_percent(row['balanced_accuracy']):>18} {_points(row['vs_real']):>17} "
              f"{rare:>14}{mark}")
    for note in result.get("notes") or []:
        print(f"note: {note}")
    if recommended != "real":
        print(f"ganforge augment {model_id} --mix recommended -o mix/   hands out the recommended mix")


def _percent(summary: dict) -> str:
    return f"{100 * summary['mean']:.1f} ± {100 * summary['std']:.1f} %"


def _points(summary: dict) -> str:
    return f"{100 * summary['mean']:+.1f} ± {100 * summary['std']:.1f}"
