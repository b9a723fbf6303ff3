"""The layering of fidle_runs (pyproject.toml's [tool.importlinter] contract: each package imports
only from the layers below it) holds, and breaking it is caught: import-linter, run here as CI
runs it, fails on a copy of the package where core imports the report."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """import-linter on the fidle_runs package found first from `root`, with its contracts."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"),
                           "--no-cache"], cwd=root, env=env, capture_output=True, text=True,
                          timeout=300)


def test_the_package_imports_downwards_only():
    proc = lint_imports(REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "fidle_runs imports downwards only KEPT" in proc.stdout


def test_an_upward_import_breaks_the_contract(tmp_path):
    shutil.copytree(REPO / "fidle_runs", tmp_path / "fidle_runs",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    errors = tmp_path / "fidle_runs" / "core" / "errors.py"
    errors.write_text(errors.read_text() + "\nimport fidle_runs.report.ranking  # noqa\n")
    proc = lint_imports(tmp_path)
    assert proc.returncode != 0
    assert "fidle_runs imports downwards only BROKEN" in proc.stdout
    assert "fidle_runs.core.errors -> fidle_runs.report.ranking" in proc.stdout


def test_no_module_imports_itself_back():
    """No import cycle between any two modules of fidle_runs (grimp: import-linter's graph)."""
    import grimp

    graph = grimp.build_graph("fidle_runs", cache_dir=None)
    cycles = [(a, b) for a in sorted(graph.modules)
              for b in graph.find_modules_directly_imported_by(a)
              if a < b and graph.chain_exists(importer=b, imported=a)]
    assert cycles == []
