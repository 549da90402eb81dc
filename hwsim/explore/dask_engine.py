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

CONNECT_TIMEOUT = "10s"  # how long --scheduler ADDRESS is tried before it is one error line


def _client(scheduler: str | None, workers: int, processes: bool):
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:  # tested by hiding dask (tests/test_explore.py)
        raise HwsimError('--engine dask needs the dask extra: pip install "hwsim[dask]"') from None
    import logging

    logging.getLogger("distributed").setLevel(logging.ERROR)  # its INFO chatter (e.g. on shutdown) is not ours
    if scheduler is not None:
        try:  # a closed port or a silent host: one line after CONNECT_TIMEOUT, not a hang
            return Client(scheduler, timeout=CONNECT_TIMEOUT), None
        except (OSError, TimeoutError) as exc:
            raise HwsimError(f"--scheduler {scheduler}: cannot reach the Dask scheduler ({exc})") from None
        except (ValueError, TypeError) as exc:  # no port, a port that is not a number, an unknown scheme
            raise HwsimError(
                f"--scheduler {scheduler!r}: not a Dask scheduler address ({exc}); e.g. tcp://host:8786"
            ) from None
        except MemoryError:  # something else answers there: distributed reads its bytes as a frame length
            raise HwsimError(
                f"--scheduler {scheduler}: what answers there does not speak Dask's protocol (not a Dask scheduler?)"
            ) from None
    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=processes, dashboard_address=None, silence_logs=40
    )
    return Client(cluster), cluster


def map_chunks(
    fn: Callable[[Any, int, int], Any],
    plan: Any,
    spans: Sequence[tuple[int, int]],
    on_result: Callable[[Any], None],
    *,
    scheduler: str | None = None,
    workers: int = 2,
    processes: bool = True,
) -> None:
    """Run ``fn(plan, start, stop)`` for every span as a Dask task and hand each result to
    ``on_result`` as it arrives (in completion order; the sweep's folding does not depend on it).
    A result is released on the cluster once received, so neither the workers nor this process
    hold more than the chunks in flight. ``processes=False`` runs the LocalCluster's workers as
    threads of this process (what the tests use)."""
    client, cluster = _client(scheduler, workers, processes)  # first: a missing extra is one line
    from dask.distributed import as_completed

    try:
        shared = client.scatter(plan, broadcast=True)
        pending = as_completed(client.submit(fn, shared, start, stop, pure=False) for start, stop in spans)
        for future in pending:  # no other reference is kept: a received result leaves the cluster
            on_result(future.result())
            del future
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
