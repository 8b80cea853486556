"""Fail when a committed notebook output or a Markdown file names an absolute path of the machine that made it.

Outputs and generated reports (README.md, benchmarks/RESULTS.md, paper_figures/*.md) are read by people on other
machines: a home folder, a virtual environment, a temp folder or this checkout's own location means nothing there and
leaks who ran it. Print paths relative to the repository or to the cache root (`~/.cache/ia2/...`) instead.
Checked: the outputs (text, not images) of every notebook under nbs/, and every Markdown file git tracks or would
add (untracked files that .gitignore does not exclude).
"""
import json, re, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# an absolute path under a folder that belongs to one machine, or any path into an installed environment
MACHINE_PATH = re.compile(
    r"(?<![\w.~-])/(?:home|root|Users|tmp|var/folders|private/var|mnt|scratch|work|opt|usr/(?:local/)?lib/python)"
    r"(?:/[\w.+@-]+)+"
    r"|[\w./-]*(?:site-packages|dist-packages|\.venv/lib)/[\w./-]*"
    r"|[A-Za-z]:\\\\?Users\\\\?[\w.-]+")


def _files(pattern: str) -> list[Path]:
    "Files git tracks or would add (not ignored) matching a pathspec."
    out = subprocess.run(['git', 'ls-files', '--cached', '--others', '--exclude-standard', '--', pattern],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return sorted({ROOT/line for line in out.splitlines() if (ROOT/line).is_file()})


def _output_texts(cell: dict) -> list[str]:
    "The text a code cell's outputs show (streams, tracebacks and text/markdown/html data; not images)."
    texts = []
    for output in cell.get('outputs', []):
        if 'text' in output:
            texts.append(''.join(output['text']) if isinstance(output['text'], list) else output['text'])
        texts += ['\n'.join(output.get('traceback', []))]
        for mime, value in output.get('data', {}).items():
            if mime.startswith('text/') or mime == 'application/json':
                texts.append(''.join(value) if isinstance(value, list) else json.dumps(value))
    return texts


def findings() -> list[str]:
    "One line per absolute machine path found: file, where, and the path."
    found = []
    for nb in _files('nbs/**.ipynb'):
        cells = json.loads(nb.read_text(encoding='utf-8'))['cells']
        for i, cell in enumerate(cells):
            for text in _output_texts(cell):
                found += [f"{nb.relative_to(ROOT)}: output of cell {i} ({cell.get('id', '?')}): {m.group(0)}"
                          for m in MACHINE_PATH.finditer(text)]
    for md in _files('*.md'):
        for n, line in enumerate(md.read_text(encoding='utf-8').splitlines(), 1):
            found += [f"{md.relative_to(ROOT)}:{n}: {m.group(0)}" for m in MACHINE_PATH.finditer(line)]
    return found


def main():
    found = findings()
    for line in found:
        print(line)
    if found:
        print(f"\n{len(found)} absolute paths of this machine in committed outputs or Markdown files: print paths "
              "relative to the repository or the cache root, then re-run the notebook or regenerate the file")
        return 1
    print("no absolute machine paths in notebook outputs or Markdown files")
    return 0


if __name__ == '__main__':
    sys.exit(main())
