"""Fixtures shared by the test files (plain helpers are in helpers.py)."""
import logging
import shutil

import pytest

from helpers import records, write_grid


@pytest.fixture
def fresh_cli_logger():
    "`ia2.cli.main` adds a stdout handler once; drop it so each test's capsys sees the output."
    yield
    logging.getLogger("ia2").handlers.clear()


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    "An uninterrupted run of the tiny grid of helpers.py (base, ICL, ia2, ia2-sft), once per test file: its folder and its records."
    from ia2.config import load_grid
    from ia2.engine import run_grid
    folder = tmp_path_factory.mktemp("clean")
    grid = load_grid(write_grid(folder))
    assert run_grid(grid, progress=False) == {"finished": 4, "failed": 0}
    return folder, records(grid)


@pytest.fixture
def copy(clean, tmp_path):
    "A copy of the clean run's folder (records, adapters, store) to damage."
    from ia2.config import load_grid
    shutil.copytree(clean[0], tmp_path / "run")
    return load_grid(tmp_path / "run" / "grid.yaml")
