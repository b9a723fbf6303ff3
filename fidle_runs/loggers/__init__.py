"""Lightning loggers of our own (the rest come from Lightning, configured in conf/logger)."""
