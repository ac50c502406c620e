"""Concurrency: 8 threads reading random patches from shared stacks get exactly the serial results;
stacks pickled to spawned processes and to a dask distributed cluster read the same data."""

from __future__ import annotations

import multiprocessing
import pickle
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
import stackio
from robust_corpus import Base
from robust_parallel import Request, read, read_pickled, requests_for, same


@pytest.fixture(scope="module")
def workload(all_bases: list[Base]) -> list[tuple[Base, list[Request], list[np.ndarray]]]:
    """Per input: requests and their serial answers, read from a stack loaded for that purpose only."""
    out = []
    for k, base in enumerate(all_bases):
        try:
            stacks = stackio.load(base.path, base.axes, **base.options)
        except stackio.StackioError:
            continue  # an input that needs axes or options (reported by the fuzz test)
        requests = requests_for(stacks, 48, seed=k)
        out.append((base, requests, read(stacks, requests)))
        for stack in stacks:
            stack.close()
    return out


def test_eight_threads_on_shared_stacks_read_what_one_thread_reads(workload: list[Any]) -> None:
    for base, requests, serial in workload:
        stacks = stackio.load(base.path, base.axes, **base.options)  # never read yet: first opens race too
        barrier = threading.Barrier(8)
        jobs = [requests[t::8] + requests for t in range(8)]  # every thread reads everything, in its own order

        def run(job: list[Request], barrier: threading.Barrier = barrier, stacks: list[Any] = stacks) -> Any:
            barrier.wait()
            return read(stacks, job)

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(run, jobs))
        for t, answer in enumerate(answers):
            assert same(answer[len(requests[t::8]) :], serial), f"{base.name}: thread {t} read other data"
        for stack in stacks:
            stack.close()


def test_stacks_pickled_to_spawned_processes_read_the_same(workload: list[Any]) -> None:
    payloads = []
    for base, requests, _ in workload:
        stacks = stackio.load(base.path, base.axes, **base.options)
        read(stacks, requests[:2])  # opened before pickling: the open reader must not travel
        payloads.append(pickle.dumps((stacks, requests)))
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        answers = pool.map(read_pickled, payloads)
    for (base, _, serial), answer in zip(workload, answers, strict=True):
        assert same(answer, serial), f"{base.name}: a spawned process read other data"


def test_stacks_sent_to_a_dask_distributed_cluster_read_the_same(workload: list[Any]) -> None:
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=2, processes=True, dashboard_address=None, silence_logs=50
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        futures = []
        for base, requests, _ in workload:
            stacks = stackio.load(base.path, base.axes, **base.options)
            futures.append(client.submit(read, stacks, requests, pure=False))
        answers = client.gather(futures)
    for (base, _, serial), answer in zip(workload, answers, strict=True):
        assert same(answer, serial), f"{base.name}: a dask worker read other data"
