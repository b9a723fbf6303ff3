"""The configs: where conf/ is, the checks before anything is built, building a node.
May import fidle_runs.core only."""
