"""Routing jobs by what they need: the queue of a spec, the queues a machine's GPUs serve, and the worker
processes `ganforge worker --gpus` plans, as plain functions (no GPU needed); a requeue on a real Redis."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError
from redis import Redis

from core.celery_app import create_celery
from core.gpus import Gpu, parse_nvidia_smi
from core.queues import memory_class, queue_for, requeuer
from core.reaping import reap_job
from core.registry import Registry
from core.settings import Settings
from core.spec import JobSpec
from tests.helpers import TINY_JOB
from worker.pools import cpu_worker, gpu_queues, plan_gpu_workers, select_gpus

NVIDIA_SMI = "0, NVIDIA H100 80GB HBM3, 81559\n1, NVIDIA H100 80GB HBM3, 81559\n2, Tesla T4, 15360\n" \
             "3, NVIDIA L4, 23034\n"
H100, _, T4, L4 = parse_nvidia_smi(NVIDIA_SMI)


def spec(resources: dict | None = None, **train) -> dict:
    body = {"dataset": "digits", "train": {"batch_size": 64, **train}}
    return JobSpec.model_validate({**body, **({"resources": resources} if resources else {})}).model_dump()


@pytest.mark.parametrize("resources,train,queue", [
    (None, {}, "celery"),
    ({"device": "any"}, {"devices": 2}, "celery"),  # N gloo processes on any CPU worker
    ({"device": "cpu"}, {}, "cpu"),
    ({"device": "cpu"}, {"devices": 2}, "cpu"),
    ({"device": "gpu"}, {}, "gpu"),
    ({"device": "gpu", "gpu_memory_gb": 20}, {}, "gpu-24gb"),
    ({"device": "gpu", "gpu_memory_gb": 24}, {}, "gpu-24gb"),
    ({"device": "gpu", "gpu_memory_gb": 1}, {}, "gpu-16gb"),
    ({"device": "gpu", "gpu_memory_gb": 80}, {}, "gpu-80gb"),
    ({"device": "gpu"}, {"devices": 4}, "gpu-x4"),
    ({"device": "gpu", "gpu_memory_gb": 30}, {"devices": 2}, "gpu-x2-40gb"),
])
def test_a_job_waits_on_the_queue_of_what_it_needs(resources, train, queue):
    assert queue_for(spec(resources, **train)) == queue


def test_specs_without_resources_and_other_kinds_of_job_go_to_the_default_queue():
    assert queue_for({"dataset": "digits"}) == "celery"  # a job stored before resources existed
    assert queue_for({"kind": "evaluation", "model_id": "model_1"}) == "celery"


@pytest.mark.parametrize("resources,message", [
    ({"device": "cpu", "gpu_memory_gb": 16}, "set resources.device to 'gpu' (it is 'cpu')"),
    ({"gpu_memory_gb": 16}, "set resources.device to 'gpu' (it is 'any')"),
    ({"device": "gpu", "gpu_memory_gb": 81}, "less than or equal to 80"),
    ({"device": "tpu"}, "'any', 'cpu' or 'gpu'"),
])
def test_contradictory_resources_are_refused_saying_why(resources, message):
    with pytest.raises(ValidationError, match="resources") as error:
        JobSpec.model_validate({"dataset": "digits", "resources": resources})
    assert message in str(error.value)


def test_memory_rounds_up_to_a_class():
    assert [memory_class(gb) for gb in (1, 16, 17, 24, 25, 40, 41, 80)] == [16, 16, 24, 24, 40, 40, 80, 80]
    with pytest.raises(ValueError, match="largest is 80 GB"):
        memory_class(81)


def test_nvidia_smi_output_is_read_into_gpus_with_labels_and_memory_classes():
    assert [g.label for g in (H100, T4, L4)] == ["cuda:0 (NVIDIA H100 80GB HBM3, 80 GB)", "cuda:2 (Tesla T4, 15 GB)",
                                                 "cuda:3 (NVIDIA L4, 22 GB)"]
    # Cards sold as 16 and 24 GB report a little less: they still count as their class.
    assert (H100.memory_classes, T4.memory_classes, L4.memory_classes) == ([16, 24, 40, 80], [16], [16, 24])
    assert parse_nvidia_smi("0, Some GPU, [N/A]\n") == [Gpu(0, "Some GPU", 0)]
    h200 = parse_nvidia_smi("0, NVIDIA H200, 143771\n")[0]  # as a real H200 machine printed it
    assert h200.label == "cuda:0 (NVIDIA H200, 140 GB)" and h200.memory_classes == [16, 24, 40, 80]


def test_a_gpu_worker_takes_any_job_single_gpu_jobs_and_every_class_its_gpu_holds():
    assert gpu_queues([L4]) == ["celery", "gpu", "gpu-16gb", "gpu-24gb"]
    assert gpu_queues([H100]) == ["celery", "gpu", "gpu-16gb", "gpu-24gb", "gpu-40gb", "gpu-80gb"]


def test_a_worker_with_several_gpus_serves_groups_up_to_its_size_at_its_smallest_gpus_class():
    assert gpu_queues([H100, T4]) == ["celery", "gpu", "gpu-16gb", "gpu-x2", "gpu-x2-16gb"]
    assert "gpu-x2-80gb" in gpu_queues([H100, H100])


def test_a_cpu_worker_takes_any_and_cpu_jobs_and_hides_the_gpus():
    worker = cpu_worker()
    assert (worker.name, worker.queues, worker.devices, worker.env) == ("cpu@%h", ["celery", "cpu"], ["cpu"],
                                                                       {"CUDA_VISIBLE_DEVICES": ""})
    assert cpu_worker(["cpu"], "small@%h").queues == ["cpu"]


def test_gpus_0_2_plan_one_worker_process_per_gpu_each_seeing_only_its_own():
    plan = plan_gpu_workers(select_gpus(parse_nvidia_smi(NVIDIA_SMI), "0,2"))
    assert [p.name for p in plan] == ["gpu0@%h", "gpu2@%h"]
    assert [p.env["CUDA_VISIBLE_DEVICES"] for p in plan] == ["0", "2"]
    assert all(p.env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID" for p in plan)  # CUDA's numbering = nvidia-smi's
    assert plan[0].queues[-1] == "gpu-80gb" and plan[1].queues == ["celery", "gpu", "gpu-16gb"]
    assert plan[1].devices == ["cuda:2 (Tesla T4, 15 GB)"]


def test_gpus_per_worker_groups_gpus_and_names_and_queues_override():
    gpus = parse_nvidia_smi(NVIDIA_SMI)
    plan = plan_gpu_workers(gpus, per_worker=2, queues=["gpu-x2"], name="pool@box")
    assert [(p.name, p.env["CUDA_VISIBLE_DEVICES"], p.queues) for p in plan] == [
        ("pool-gpu0-1@box", "0,1", ["gpu-x2"]), ("pool-gpu2-3@box", "2,3", ["gpu-x2"])]
    assert plan_gpu_workers(gpus[:1], name="mine@%h")[0].name == "mine@%h"  # one process: the name as given


@pytest.mark.parametrize("wanted,per_worker,message", [
    ("0,7", 1, "unknown GPU index 7; this machine has 0, 1, 2, 3"),
    ("1,1", 1, "repeated GPU index"),
    ("first", 1, "'all' or GPU indices"),
    ("all", 3, "--gpus-per-worker 3 does not divide the 4 GPU(s)"),
])
def test_a_wrong_gpu_choice_is_refused_saying_what_there_is(wanted, per_worker, message):
    with pytest.raises(SystemExit, match=re.escape(message)):
        plan_gpu_workers(select_gpus(parse_nvidia_smi(NVIDIA_SMI), wanted), per_worker)


def test_a_job_whose_worker_vanished_goes_back_to_its_own_queue(redis_url):
    url = redis_url.rsplit("/", 1)[0] + "/9"  # no worker listens here
    registry = Registry(Redis.from_url(url))
    registry.redis.delete("cpu", "celery")
    job, _ = registry.create_job({**TINY_JOB, "resources": {"device": "cpu", "gpu_memory_gb": None}})
    registry.begin_job(job["id"], "dead-worker", ttl_s=30, worker="a", max_attempts=5)
    registry.redis.delete(f"gf:job:{job['id']}:lease")  # its worker died

    outcome = reap_job(registry, job["id"], requeuer(create_celery(Settings(redis_url=url)), registry), 5)

    assert outcome == "requeued" and registry.redis.llen("cpu") == 1 and registry.redis.llen("celery") == 0
    registry.redis.delete("cpu")
    registry.redis.close()
