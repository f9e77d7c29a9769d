"""Where a running `ganforge up` can be found: it leaves a state file in its data dir, so that commands
run beside it (`ganforge status`) reach its embedded Redis without being told the URL."""

from __future__ import annotations

import json
import os
from pathlib import Path

STATE_FILE = "ganforge-up.json"


def write_state(data_dir: Path, redis_url: str, api_url: str) -> Path:
    path = Path(data_dir) / STATE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"pid": os.getpid(), "redis_url": redis_url, "api_url": api_url}))
    temporary.replace(path)
    return path


def read_state(data_dir: Path) -> dict | None:
    """The running stack's state, or None when none runs there (no file, or its `up` has died)."""
    try:
        state = json.loads((Path(data_dir) / STATE_FILE).read_text())
        os.kill(state["pid"], 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return state


def clear_state(data_dir: Path) -> None:
    (Path(data_dir) / STATE_FILE).unlink(missing_ok=True)
