"""Lightning callbacks of our own (the rest come from Lightning, configured in conf/callbacks).
May import loggers, launch, hardware, data, tasks, models, config, store, core."""
