"""The machine a run runs on: the GPU fast path, CPU threads, GPUs shared between runs,
data-parallel processes. May import data, config, store, core."""
