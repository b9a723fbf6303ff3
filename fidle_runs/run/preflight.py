"""What a run checks of its data and network before it writes anything: the data's source is
there and well formed (`InMemoryDataModule.check_source`); for families that know their sample
shape from the config alone (images), the network takes that shape; a run that starts from
scratch from another run's weights (`model.init_from`) finds that run completed, with a best
checkpoint that loads, on samples of that shape. A run refused here leaves no run folder and
no prepared data behind."""

from omegaconf import DictConfig

from fidle_runs.run.assemble import build_datamodule, build_network
from fidle_runs.run.init_from import check_source

# Any number of outputs sizes a network for this check: only the input shape is tested.
TRIAL_OUTPUTS = 2


def check_data_and_network(cfg: DictConfig, from_scratch: bool) -> None:
    """`from_scratch`: the run will not resume from a checkpoint of its own (it then takes its
    first weights from model.init_from, when given)."""
    datamodule = build_datamodule(cfg)
    datamodule.check_source()
    shape = None
    if datamodule.announces_shape:
        shape = list(datamodule.announced_shape())
        dims = {"in_shape": tuple(shape), "n_outputs": TRIAL_OUTPUTS}
        build_network(cfg, dims, datamodule.name)
    source = cfg.model.get("init_from")
    if from_scratch and source:
        check_source(source, shape)
