"""Where a running `ganforge up` can be found: it leaves a state file in its data dir, so that commands run beside
it (`ganforge status`) reach its embedded Redis without being told the URL; and a copy in a per-user runtime
directory, so that commands run from any other directory find it too. Both go when it stops.

The runtime directory: GANFORGE_RUNTIME_DIR, else $XDG_RUNTIME_DIR/ganforge, else ~/.cache/ganforge (made 0700:
the state names the stack's Redis)."""

from __future__ import annotations

import json
import os
from pathlib import Path

STATE_FILE = "ganforge-up.json"
RUNTIME_ENV = "GANFORGE_RUNTIME_DIR"


def runtime_dir() -> Path:
    if os.environ.get(RUNTIME_ENV):
        return Path(os.environ[RUNTIME_ENV])
    if os.environ.get("XDG_RUNTIME_DIR"):
        return Path(os.environ["XDG_RUNTIME_DIR"]) / "ganforge"
    return Path.home() / ".cache" / "ganforge"


def write_state(data_dir: Path, redis_url: str, api_url: str) -> Path:
    """Records this process's stack in its data dir and in the runtime directory (one file per stack, so that two
    stacks on two data dirs are both found); returns the data dir's file."""
    state = {"pid": os.getpid(), "redis_url": redis_url, "api_url": api_url,
             "data_dir": str(Path(data_dir).resolve())}
    path = _write(Path(data_dir) / STATE_FILE, state)
    try:
        runtime = runtime_dir()
        runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write(_runtime_file(os.getpid()), state)
    except OSError:  # no writable home: the stack still runs, found from its data dir
        pass
    return path


def read_state(data_dir: Path, anywhere: bool = False) -> dict | None:
    """The running stack's state, or None when none runs (no file, or its `up` has died): the one on `data_dir`,
    else with `anywhere` the stack this user started last, wherever it runs."""
    state = _alive(Path(data_dir) / STATE_FILE)
    if state or not anywhere:
        return state
    try:
        recorded = sorted(runtime_dir().glob("up-*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        return None
    return next((state for path in recorded if (state := _alive(path))), None)


def clear_state(data_dir: Path) -> None:
    (Path(data_dir) / STATE_FILE).unlink(missing_ok=True)
    _runtime_file(os.getpid()).unlink(missing_ok=True)


def data_dir_chosen() -> bool:
    """Whether the data dir was named (--data-dir or GANFORGE_DATA_DIR): then only a stack there counts."""
    return bool(os.environ.get("GANFORGE_DATA_DIR"))


def _runtime_file(pid: int) -> Path:
    return runtime_dir() / f"up-{pid}.json"


def _write(path: Path, state: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(state))
    temporary.replace(path)
    return path


def _alive(path: Path) -> dict | None:
    try:
        state = json.loads(path.read_text())
        os.kill(state["pid"], 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return state
