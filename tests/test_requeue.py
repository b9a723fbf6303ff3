"""The requeue guard: a requeued job that cannot complete an epoch before the next warning."""

import pytest

from fidle_runs.requeue import requeue_loops, slurm_job


@pytest.mark.parametrize(("restarts", "before", "now", "loops"), [
    (None, 0, 0, False),  # first segment: a warning before any epoch may be a preemption
    ("0", 3, 3, False),
    ("1", 3, 4, False),
    ("1", 3, 3, True),
    ("5", 0, 0, True),
])
def test_requeue_loops_only_when_a_requeued_job_made_no_progress(restarts, before, now, loops,
                                                                monkeypatch):
    if restarts is not None:
        monkeypatch.setenv("SLURM_RESTART_COUNT", restarts)
    assert requeue_loops(before, now) is loops


def test_array_tasks_are_requeued_by_their_own_id(monkeypatch):
    assert slurm_job() is None
    monkeypatch.setenv("SLURM_JOB_ID", "107")
    assert slurm_job() == "107"
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "100")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "7")
    assert slurm_job() == "100_7"
