"""Lightning loggers of our own (the rest come from Lightning, configured in conf/logger).
May import launch, hardware, data, tasks, models, config, store, core."""
