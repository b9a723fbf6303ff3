"""Lightning callbacks of our own (the rest come from Lightning, configured in conf/callbacks)."""
