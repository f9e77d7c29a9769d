"""`ganforge up`'s supervisor with real child processes: restarts, giving up, stopping; then `ganforge up`
itself, whose killed worker and killed Redis come back while the API keeps serving."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest

from core.supervisor import Part, Supervisor
from service.cli.embedded_redis import free_port
from service.cli.local_stack import STATE_FILE
from service.cli.processes import answers_ok, env_for, spawn, stop, wait_for


def child(code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code], start_new_session=True)


def test_a_part_that_keeps_failing_is_restarted_with_back_off_then_the_supervisor_gives_up():
    starts, lines = [], []

    def start() -> subprocess.Popen:
        starts.append(time.monotonic())
        return child("import sys; sys.exit(3)")

    steady = Part("steady", lambda: child("import time; time.sleep(60)"))
    supervisor = Supervisor([steady, Part("flaky", start)], log=lines.append, max_restarts=3, base_delay_s=0.1)
    assert supervisor.run() == 1
    assert len(starts) == 4  # the first start and three restarts
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert gaps[0] >= 0.1 and gaps[1] >= 0.2 and gaps[2] >= 0.4  # the back-off doubles
    assert "flaky exited (3); restarting it in 0.1 s" in lines[0]
    assert "giving up" in lines[-2] and lines[-1] == "ganforge: stopped"
    assert steady.process.poll() is not None  # everything is stopped when it gives up


def test_stop_ends_every_part_and_exits_zero():
    parts = [Part(f"sleeper{i}", lambda: child("import time; time.sleep(60)")) for i in range(2)]
    supervisor = Supervisor(parts, log=lambda line: None)
    threading.Timer(0.5, supervisor.stop).start()
    assert supervisor.run() == 0
    assert all(part.process.poll() is not None for part in parts)


def child_pids(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in found]


def cmdline(pid: int) -> str:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().replace(b"\0", b" ").decode()


@pytest.mark.e2e
def test_ganforge_up_restarts_a_killed_worker_and_a_killed_redis(tmp_path):
    port, data_dir = free_port(), tmp_path / "data"
    env = env_for("", tmp_path / "not-this-dir", GANFORGE_PORT="1")  # the flags win over the environment
    env.pop("GANFORGE_REDIS_URL")  # `up` embeds its own Redis
    env["GANFORGE_RUNTIME_DIR"] = str(tmp_path / "runtime")  # where `up` records itself for this user
    log = tmp_path / "up.log"
    up = spawn(["up", "--port", str(port), "--data-dir", str(data_dir)], env, log)
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        return answers_ok(f"{url}/readyz")

    try:
        wait_for(ready, 90, "ganforge up", up, log)
        status = subprocess.run([sys.executable, "-m", "service.cli", "status", "--data-dir", str(data_dir)], env=env,
                                capture_output=True, text=True, timeout=60)  # finds the embedded Redis by itself
        assert status.returncode == 0 and "workers alive: 1" in status.stdout, status.stderr
        # From any other directory, no data dir named: found through the record in the runtime directory.
        anywhere = {**{k: v for k, v in env.items() if k != "GANFORGE_DATA_DIR"}, "PYTHONPATH": os.getcwd()}
        status = subprocess.run([sys.executable, "-m", "service.cli", "status"], env=anywhere, cwd=tmp_path,
                                capture_output=True, text=True, timeout=60)
        assert status.returncode == 0 and "workers alive: 1" in status.stdout, status.stderr
        parts = {("redis" if "redis-server" in cmdline(p) else cmdline(p).split()[-1]): p for p in child_pids(up.pid)}
        for name in ("worker", "redis"):
            os.killpg(parts[name], signal.SIGKILL)
            wait_for(lambda n=name: f"{n} exited" in log.read_text(), 30, f"{name} restart", up, log)
            wait_for(ready, 90, f"readiness after the {name} restart", up, log)
        # A job trains end to end: the restarted worker takes work from the restarted Redis.
        job: dict = {}

        def submitted() -> bool:  # the API may still be reconnecting to the new Redis: a 503 is retried
            # The first submit after the restart has taken over httpx's default 5 s on a loaded machine (the
            # broker connection is re-established as it publishes); it must still answer.
            response = httpx.post(f"{url}/v1/jobs", json={"dataset": "ring8", "model": {"arch": "mlp", "hidden": 8},
                                                          "train": {"max_steps": 2}}, timeout=30)
            job.update(response.json() if response.status_code == 202 else {})
            return bool(job)

        def succeeded() -> bool:
            return httpx.get(f"{url}/v1/jobs/{job['id']}").json()["status"] == "succeeded"

        wait_for(submitted, 60, "a job submitted after the restarts", up, log)
        wait_for(succeeded, 120, "a job after the restarts", up, log)
    finally:
        stop(up)
    assert up.returncode == 0 and "ganforge: stopped" in log.read_text()
    assert not (data_dir / STATE_FILE).exists() and not (tmp_path / "not-this-dir").exists()
    assert list((tmp_path / "runtime").iterdir()) == []  # the record goes with the stack
