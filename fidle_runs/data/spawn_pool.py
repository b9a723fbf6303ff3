"""The process pool of data preparation, startable from any parent process."""

import multiprocessing
import multiprocessing.pool


def spawn_pool(workers: int) -> multiprocessing.pool.Pool:
    """A pool of freshly spawned worker processes.

    Spawned children restore their parent's process-wide start method. Inside a joblib worker
    (hydra/launcher=local_parallel) that method is 'loky', which a fresh interpreter does not know:
    every child dies with "cannot find context for 'loky'" and the pool respawns them forever. So
    a parent whose start method is not one of Python's own switches to 'spawn' first.
    """
    if multiprocessing.get_start_method(allow_none=True) not in (
            None, *multiprocessing.get_all_start_methods()):
        multiprocessing.set_start_method("spawn", force=True)
    return multiprocessing.get_context("spawn").Pool(workers)
