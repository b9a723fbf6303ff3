"""The requeue guard: a requeued job that cannot complete an epoch before the next warning."""

import pytest

from fidle_runs.launch.requeue import requeue_loops, slurm_job


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


def test_data_parallel_ranks_agree_on_the_signal_every_few_batches_and_at_an_epoch_end(
        monkeypatch):
    """The ranks' agreement is a round trip between hosts: every AGREE_EVERY batches and at the
    epoch's last, not at every batch; a signal on any rank stops all at the next agreement."""
    from types import SimpleNamespace

    from fidle_runs.callbacks import stop_on_requeue
    from fidle_runs.launch.requeue import RequeueRequested

    reduced: list[int] = []
    others_signalled = {"value": 0}

    def all_reduce(flag, group):
        reduced.append(int(flag.item()))
        flag += others_signalled["value"]

    monkeypatch.setattr(stop_on_requeue.dist, "all_reduce", all_reduce)
    monkeypatch.setattr(stop_on_requeue, "received_signal", lambda: None)
    callback = stop_on_requeue.StopOnRequeueSignal()
    callback._ranks = object()  # a data-parallel run's process group
    trainer = SimpleNamespace(num_training_batches=45, current_epoch=0)
    for batch in range(45):
        callback.on_train_batch_end(trainer, None, None, None, batch)
    every = stop_on_requeue.AGREE_EVERY
    assert len(reduced) == 45 // every + 1, "every AGREE_EVERY batches and at the epoch's end"
    others_signalled["value"] = 1  # another rank got Slurm's warning
    for batch in range(every - 1):
        callback.on_train_batch_end(trainer, None, None, None, batch)
    with pytest.raises(RequeueRequested, match="on another rank"):
        callback.on_train_batch_end(trainer, None, None, None, every - 1)
