"""What the lead of a multi-device job makes of an error, and how it shares out threads."""

import os

from worker.parallel import is_group_failure, threads_per_rank


def test_a_broken_group_is_told_apart_from_the_jobs_own_error():
    assert is_group_failure(RuntimeError("[gloo/transport/tcp/pair.cc:537] Read error: Connection reset by peer"))
    assert is_group_failure(RuntimeError("Socket Timed out: waiting for rank 1 (TCPStore)"))
    assert not is_group_failure(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert not is_group_failure(ValueError("a batch of 63 does not split over 2 devices"))


def test_the_ranks_share_the_threads_of_one_training_process():
    assert threads_per_rank(4, 2) == 2
    assert threads_per_rank(1, 4) == 1  # never fewer than one
    assert threads_per_rank(0, 2) == max(1, (os.cpu_count() or 1) // 2)
