"""The checks behind `make check-paths` and `make docs-check` catch what they claim to (no browser needed here)."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import build_docs  # noqa: E402
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
           '<a href="https://arxiv.org/abs/2509.22621">the paper</a><a href="#top">top</a><h1 id="top">t</h1></article></body></html>')
    assert check_docs.page_errors(check_docs.SITE / "clean.html", dom, {}) == []


@pytest.mark.parametrize("element, expected", [
    ('<script src="https://unpkg.com/iframe-worker/shim"></script>', "loaded from outside the site"),
    ('<link rel="stylesheet" href="https://cdn.example.org/x.css">', "loaded from outside the site"),
    ('<a href="https://github.com/ia2/ia2/blob/main/ia2/tasks.py#LNone">source</a>', "not checked by hand"),
    ('<a href="https://example.org/x">x</a>', "not checked by hand"),
])
def test_external_scripts_and_unchecked_links_fail(element, expected):
    dom = f'<html><head>{element}</head><body><article><p>text</p>{element}</article></body></html>'
    errors = check_docs.page_errors(check_docs.SITE / "page.html", dom, {})
    assert any(expected in e for e in errors), errors


def test_a_paper_page_needs_a_table_or_a_figure():
    bare = '<html><body><article><pre>print(1)</pre></article></body></html>'
    errors = check_docs.page_errors(check_docs.SITE / "paper" / "table1.html", bare, {})
    assert any("no table and no figure" in e for e in errors), errors
    shown = '<html><body><article><table><tr><td>1</td></tr></table></article></body></html>'
    assert check_docs.page_errors(check_docs.SITE / "paper" / "table1.html", shown, {}) == []


@pytest.mark.parametrize("markdown, expected", [
    ("[Performance](performance.md).", "[Performance](performance.html)."),
    ("[cli](12_cli.ipynb#ia2-run) and [x](paper/table8_paired_tests.ipynb)",
     "[cli](12_cli.html#ia2-run) and [x](paper/table8_paired_tests.html)"),
    ("[pep](https://peps.python.org/pep-0562.md) [top](#top) [abs](/x.md)",
     "[pep](https://peps.python.org/pep-0562.md) [top](#top) [abs](/x.md)"),
])
def test_notebook_links_to_pages_point_at_the_built_html(markdown, expected):
    # mkdocs-jupyter leaves a notebook's links as written; a `.md` link there was a broken link on the site (CI, stop 27)
    assert build_docs.site_links(markdown) == expected


def test_every_relative_link_in_a_notebook_names_a_page_that_exists():
    import json
    nbs = Path(__file__).resolve().parent.parent / "nbs"
    missing = []
    for nb in nbs.rglob("*.ipynb"):
        for cell in json.loads(nb.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] != "markdown": continue
            text = "".join(cell["source"])
            for m in build_docs.PAGE_LINK.finditer(text):
                target = m.group(0)[2:].split("#")[0].rstrip(")")
                base = nbs.parent if nb.name == "index.ipynb" else nb.parent  # index.ipynb is README.md's source: links from the root
                if not (base / target).exists(): missing.append(f"{nb.relative_to(nbs)}: {target}")
    assert not missing, missing
