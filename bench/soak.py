"""Soak: API processes and workers on one Redis, a batch of tiny training jobs, many concurrent generation clients
through every API, and one worker killed with SIGKILL mid-job and started again (the scenario of
tests/e2e/test_soak.py, in bench/soak_scenario.py, with numbers of your choice). Prints what an operator would ask: jobs
done, jobs done twice, extra models, generation requests, their p50/p99 latency and rate, and the 5xx count.

Its own embedded Redis and data directory, in a temporary directory. From the repository root, as a module:

    .venv/bin/python -m bench.soak                                   # the issue's: 30 jobs, 64 clients
    .venv/bin/python -m bench.soak --jobs 200 --clients 256 --workers 4 --generate-s 120
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from bench.soak_scenario import SoakPlan, soak
from service.cli.embedded_redis import start_redis


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    plan = SoakPlan()
    parser.add_argument("--jobs", type=int, default=plan.jobs)
    parser.add_argument("--clients", type=int, default=plan.clients, help="concurrent generation clients")
    parser.add_argument("--apis", type=int, default=plan.apis, help="API processes")
    parser.add_argument("--workers", type=int, default=plan.workers, help="worker processes")
    parser.add_argument("--steps", type=int, default=plan.steps, help="training steps per job")
    parser.add_argument("--generate-s", type=float, default=30.0, help="how long the clients generate")
    parser.add_argument("--no-kill", action="store_true", help="kill no worker")
    parser.add_argument("--timeout-s", type=float, default=600.0, help="for all jobs to finish")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs) and say where")
    args = parser.parse_args()
    plan = SoakPlan(jobs=args.jobs, clients=args.clients, apis=args.apis, workers=args.workers, steps=args.steps,
                    generate_s=args.generate_s, kill_worker=not args.no_kill, timeout_s=args.timeout_s)
    root = Path(tempfile.mkdtemp(prefix="ganforge-soak-"))
    redis, url = start_redis(root / "redis")
    try:
        record = soak(plan, url, root / "data", root)
    finally:
        redis.terminate()
        redis.wait(10)
    figures = record.figures()
    print(f"soak: {plan.apis} APIs, {plan.workers} workers, {plan.jobs} jobs of {plan.steps} steps, "
          f"{plan.clients} generation clients for {plan.generate_s:g} s"
          + (", one worker SIGKILLed mid-job and restarted" if plan.kill_worker else ""))
    print(f"  jobs done {figures['jobs_succeeded']}/{figures['jobs']} in {figures['jobs_s']} s; done twice "
          f"{figures['jobs_succeeded_twice']}; models {figures['models']} (jobs with two: "
          f"{figures['jobs_with_two_models']}); starts beyond requeues {figures['attempts_beyond_requeues']}; "
          f"requeues {figures['requeues']}")
    if record.killed:
        print(f"  killed {record.killed['worker']} holding {', '.join(record.killed['jobs']) or 'no job'} at step "
              f"{record.killed['steps']}; ready again after {record.killed['restarted_after_s']} s")
    print(f"  generation: {figures['generate_requests']} requests ({figures['generate_ok']} 200), "
          f"{figures['requests_per_s']} requests/s, p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms")
    print(f"  5xx {figures['5xx']}; no answer {figures['no_answer']}; all statuses {figures['statuses']}; "
          f"total {figures['total_s']} s")
    for error, count in record.errors.most_common():
        print(f"  no answer x{count}: {error}")
    print(json.dumps(figures))
    if args.keep:
        print(f"  logs in {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
