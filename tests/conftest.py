"""Fixtures shared by the test files (plain helpers are in helpers.py)."""
import logging

import pytest


@pytest.fixture
def fresh_cli_logger():
    "`ia2.cli.main` adds a stdout handler once; drop it so each test's capsys sees the output."
    yield
    logging.getLogger("ia2").handlers.clear()
