"""Write README.md from the markdown cells of nbs/index.ipynb (`--check` only compares).

nbdev_readme needs Quarto, which this project does not require; the README is the index notebook's prose. A line
`<!-- include: path -->` is replaced by that file's text (the tables papermill writes into paper_figures/), so
the README always shows the committed results.
"""
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_text() -> str:
    "The README that nbs/index.ipynb implies."
    cells = json.loads((ROOT / "nbs" / "index.ipynb").read_text())["cells"]
    text = "\n\n".join("".join(c["source"]).strip() for c in cells if c["cell_type"] == "markdown") + "\n"
    return re.sub(r"^<!-- include: (\S+) -->$", lambda m: (ROOT / m.group(1)).read_text().strip(), text, flags=re.M)


if __name__ == "__main__":
    readme = ROOT / "README.md"
    if "--check" in sys.argv:
        if not readme.exists() or readme.read_text() != readme_text():
            sys.exit("README.md is out of sync with nbs/index.ipynb: run `make readme`")
    else:
        readme.write_text(readme_text())
