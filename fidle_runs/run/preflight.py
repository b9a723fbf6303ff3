"""What a run checks of its data and network before it writes anything: the data's source is
there and well formed (`InMemoryDataModule.check_source`), and, for families that know their
sample shape from the config alone (images), the network takes that shape. A run refused
here leaves no run folder and no prepared data behind."""

from omegaconf import DictConfig

from fidle_runs.run.assemble import build_datamodule, build_network

# Any number of outputs sizes a network for this check: only the input shape is tested.
TRIAL_OUTPUTS = 2


def check_data_and_network(cfg: DictConfig) -> None:
    datamodule = build_datamodule(cfg)
    datamodule.check_source()
    if datamodule.announces_shape:
        dims = {"in_shape": datamodule.announced_shape(), "n_outputs": TRIAL_OUTPUTS}
        build_network(cfg, dims, datamodule.name)
