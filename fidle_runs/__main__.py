"""`python -m fidle_runs [overrides]`: one run (or, with -m, a sweep) from the Hydra config."""

import hydra
from omegaconf import DictConfig

from fidle_runs.config import CONF_DIR, check_config, register_resolvers
from fidle_runs.errors import UserError

register_resolvers()


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")
def main(cfg: DictConfig) -> float | None:
    try:
        check_config(cfg)
        from fidle_runs.train import train  # torch and Lightning load once the config is valid

        result = train(cfg)
    except UserError as e:
        raise SystemExit(f"fidle_runs: error: {e}") from None
    return result.metrics.get("test_acc")


if __name__ == "__main__":
    main()
