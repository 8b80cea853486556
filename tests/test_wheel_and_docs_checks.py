"""The checks behind `make check-paths` and `make docs-check` catch what they claim to (no browser needed here)."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import check_docs  # noqa: E402
import check_paths  # noqa: E402


@pytest.mark.parametrize("text", [
    "/home/alice/.venv/lib/python3.11/site-packages/tqdm/auto.py:21: TqdmWarning",
    "real weights from `/root/.cache/ia2/models/smollm2-135m`",
    "--out /tmp/bench", "/work/main/results/x.json", "C:\\Users\\bob\\ia2", "/Users/carol/ia2/runs",
    "venv/lib/python3.11/site-packages/torch/utils/data/dataloader.py:759: UserWarning",
])
def test_machine_paths_are_found(text):
    assert check_paths.MACHINE_PATH.search(text), text


@pytest.mark.parametrize("text", [
    "converted once to safetensors in `~/.cache/ia2/models/`", "records in results/qwen-cpu/qwen2.5-coder-0.5b/",
    "see https://ipywidgets.readthedocs.io/en/stable/user_install.html", "paper_figures/table1.md", "N/A and 3/4",
])
def test_relative_paths_and_urls_pass(text):
    assert not check_paths.MACHINE_PATH.search(text), text


def test_the_committed_tree_has_no_machine_paths():
    assert check_paths.findings() == []


def test_a_broken_page_fails_every_check():
    dom = ('<html><body><article><p>$$x^2$$</p><pre>Traceback (most recent call last):</pre>'
           '<a href="nope.html">x</a><img src="missing.png"></article></body></html>')
    errors = check_docs.page_errors(check_docs.SITE / "broken.html", dom, {})
    assert any("nope.html" in e for e in errors) and any("missing.png" in e for e in errors)
    assert any("traceback" in e for e in errors) and any("raw `$$`" in e for e in errors)


def test_a_clean_page_passes():
    dom = ('<html><body><article><p>rendered <mjx-container>x</mjx-container></p><pre>$$ in code is fine</pre>'
           '<a href="https://example.org/x">external</a><a href="#top">top</a><h1 id="top">t</h1></article></body></html>')
    assert check_docs.page_errors(check_docs.SITE / "clean.html", dom, {}) == []
