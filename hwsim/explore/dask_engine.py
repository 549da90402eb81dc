"""The Dask engine of ``hwsim sweep --engine dask``: the sweep's chunks as Dask tasks.

Each task is the local engine's own pure function, ``evaluate_chunk(plan, start, stop)``, so the
results are the same objects the local engine makes, combined in chunk order: identical output. The
plan (the models' layer tables, the axes, the objectives: a few MB at most) is scattered to every
worker once; a task returns only its chunk's Pareto front and aggregates, never its points (unless
the sweep keeps every point, which it only does for small sweeps).

Where it runs: a ``distributed.LocalCluster`` of ``workers`` processes on this machine by default, or
any running scheduler given as ``scheduler`` (``tcp://host:8786``): a Slurm or PBS cluster started with
dask-jobqueue, a Kubernetes one, or ``dask scheduler`` / ``dask worker`` by hand. Install with
``pip install "hwsim[dask]"``; the workers need hwsim installed too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..errors import HwsimError


def _client(scheduler: str | None, workers: int, processes: bool):
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - the extra is installed in tests
        raise HwsimError('--engine dask needs the dask extra: pip install "hwsim[dask]"') from None
    if scheduler is not None:
        try:
            return Client(scheduler, timeout="10s"), None
        except OSError as exc:
            raise HwsimError(f"--scheduler {scheduler}: cannot reach the Dask scheduler ({exc})") from None
    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=processes, dashboard_address=None, silence_logs=40
    )
    return Client(cluster), cluster


def map_chunks(
    fn: Callable[[Any, int, int], Any],
    plan: Any,
    spans: Sequence[tuple[int, int]],
    *,
    scheduler: str | None = None,
    workers: int = 2,
    processes: bool = True,
    on_done: Callable[[int], None] | None = None,
) -> list[Any]:
    """``[fn(plan, start, stop) for start, stop in spans]``, run as Dask tasks, in ``spans`` order.

    ``on_done(points)`` is called as each chunk finishes (a progress bar). ``processes=False`` runs
    the LocalCluster's workers as threads of this process (what the tests use)."""
    client, cluster = _client(scheduler, workers, processes)
    try:
        shared = client.scatter(plan, broadcast=True)
        futures = [client.submit(fn, shared, start, stop, pure=False) for start, stop in spans]
        position = {future.key: i for i, future in enumerate(futures)}
        results: list[Any] = [None] * len(futures)
        from dask.distributed import as_completed

        for future in as_completed(futures):
            i = position[future.key]
            results[i] = future.result()
            if on_done is not None:
                on_done(spans[i][1] - spans[i][0])
        return results
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
