"""Write README.md from the markdown cells of nbs/index.ipynb, and refresh the tables that the docs pages of nbs/*.md
copy from paper_figures/ (`--check` only compares).

nbdev_readme needs Quarto, which this project does not require; the README is the index notebook's prose. In a docs
page (`nbs/reproducing.md`, ...), a block

    <!-- include: paper_figures/table.md -->
    ...
    <!-- end include -->

holds a copy of that file (the tables papermill writes into paper_figures/; the path is relative to the repository
root). The copy is committed, so the page shows its tables on GitHub too, and this script keeps it equal to the file.
"""
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INCLUDE = re.compile(r"^<!-- include: (\S+) -->\n.*?^<!-- end include -->$", re.M | re.S)


def readme_text() -> str:
    "The README that nbs/index.ipynb implies."
    cells = json.loads((ROOT / "nbs" / "index.ipynb").read_text())["cells"]
    return "\n\n".join("".join(c["source"]).strip() for c in cells if c["cell_type"] == "markdown") + "\n"


def with_includes(text: str) -> str:
    "`text` with every include block holding the current content of its file."
    def fill(match):
        path = ROOT / match.group(1)
        if not path.is_file():
            raise FileNotFoundError(f"an include block names {match.group(1)}, which is not a file of the repository")
        return f"<!-- include: {match.group(1)} -->\n{path.read_text().strip()}\n<!-- end include -->"
    return INCLUDE.sub(fill, text)


def generated() -> dict[Path, str]:
    "Every file this script writes, with its content."
    pages = sorted((ROOT / "nbs").glob("*.md"))
    return {ROOT / "README.md": readme_text(), **{p: with_includes(p.read_text()) for p in pages}}


if __name__ == "__main__":
    files = generated()
    if "--check" in sys.argv:
        stale = [str(p.relative_to(ROOT)) for p, text in files.items() if not p.exists() or p.read_text() != text]
        if stale:
            sys.exit(f"{', '.join(stale)} out of sync with nbs/index.ipynb or paper_figures/: run `make readme`")
    else:
        for path, text in files.items():
            path.write_text(text)
