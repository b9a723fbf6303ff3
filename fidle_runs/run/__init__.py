"""One run's spine: assemble (config -> data, network sized from it, task module), train (fit,
test, result.json), rebuild (a trained run back from its directory), prepare data sets once.
May import every layer below it: launch, hardware, callbacks, loggers, tasks, models, data,
optimizers, config, store, core; never report or the commands."""
