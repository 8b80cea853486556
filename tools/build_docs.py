"""Stage the documentation sources for mkdocs (`make docs`): notebooks, pages, home page, API reference, offline MathJax.

mkdocs reads `_proc/docs/` (see mkdocs.yml), which this script rebuilds from scratch:
- every notebook of `nbs/` (library and executed real-model notebooks) with its committed outputs, minus what nbdev
  hides from docs (`#| hide` cells and the `#|` directive lines) and minus noise: stderr streams (library warnings,
  progress bars) and the Trainer's log dicts (`{'loss': ...}`);
- the notebooks of `nbs/paper/` as `make paper-quick` executed them (`runs/paper_notebooks/`), so their pages show
  the tables and figures; the committed ones have no outputs;
- the markdown pages of `nbs/` (`reproducing.md`, `performance.md`), with the repository files they show;
- `index.md`, the home page, from README.md (itself generated from `nbs/index.ipynb`), with the files it shows;
- `reference/<module>.md`, one page per module of `ia2`: nbdev's `show_doc` for every public function and class
  (those in `__all__`) and every public method a class defines, with signatures and docments;
- MathJax 3 (npm package `mathjax`, pinned below) under `assets/mathjax/`, so math renders with no network;
- the iframe-worker shim (npm package `iframe-worker`, pinned below) as `assets/iframe-worker-shim.js`, which the
  search needs when the site is opened from disk (mkdocs.yml names it under `extra.polyfills`, so material's offline
  plugin does not add its unpkg.com copy).
"""
import argparse, hashlib, importlib, inspect, json, os, re, shutil, subprocess, sys, tarfile, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGE = ROOT/'_proc'/'docs'
NPM_CACHE = ROOT/'.cache'/'npm'
MATHJAX = 'mathjax@3.2.2'  # the npm package whose es5 build is bundled
# sha256 of `npm pack mathjax@3.2.2` (npm also checks the registry's integrity field when it downloads)
MATHJAX_SHA256 = '1b9c0a1c44df864e915690558e72adb9cc5203360daefd385084ced3b6c64c09'
IFRAME_WORKER = 'iframe-worker@1.0.4'  # search from file://: a web worker shim
IFRAME_WORKER_SHA256 = 'e8c5d12d87829c503afba01d67772ea9f4aba5b7ae57a0c98e1917711030efbb'
# show_doc's "[source](<git_url>/blob/<branch>/ia2/x.py#L<line>)" links: settings.ini's git_url names no published
# repository and the line is None, so they are dropped rather than left broken
SOURCE_LINK = re.compile(r'^\[source\]\(\S+\)\{[^}]*\}\n', re.M)
DIRECTIVE = re.compile(r'^\s*#\s*\|')
EXECUTED = ROOT/'runs'/'paper_notebooks'  # where `make paper-quick` writes the executed paper notebooks
# a relative link to another page of the site in a notebook's markdown: mkdocs rewrites `page.md` links only in
# markdown pages, and mkdocs-jupyter leaves notebook links alone, so they are pointed at the built `.html` here
PAGE_LINK = re.compile(r'\]\((?![a-z][a-z0-9+.-]*:|/|#)([^)\s#]+)\.(?:md|ipynb)(#[^)\s]*)?\)')
TRAINER_LOG = re.compile(r"^\{'(loss|eval_loss|train_runtime|train_loss|grad_norm|epoch)'")  # Trainer.log's printed dicts


def _directives(source: str) -> list[str]:
    "The nbdev directives (`#| name ...`) of a cell."
    return [DIRECTIVE.sub('', line).strip() for line in source.splitlines() if DIRECTIVE.match(line)]


def site_links(markdown: str) -> str:
    "A notebook's markdown with its relative `page.md` / `page.ipynb` links pointing at the built `page.html`."
    return PAGE_LINK.sub(lambda m: f"]({m.group(1)}.html{m.group(2) or ''})", markdown)


def stage_notebook(src: Path, dst: Path):
    "Copy one notebook for the site: drop `#| hide` cells and directive lines, keep every output."
    nb = json.loads(src.read_text(encoding='utf-8'))
    cells = []
    for cell in nb['cells']:
        source = ''.join(cell['source']) if isinstance(cell['source'], list) else cell['source']
        if 'injected-parameters' in cell.get('metadata', {}).get('tags', []):
            continue  # papermill's record of the command line (machine paths), not part of the notebook
        if cell['cell_type'] == 'code':
            directives = _directives(source)
            if any(d.split()[0] in ('hide', 'default_exp') for d in directives if d):
                continue
            source = '\n'.join(line for line in source.splitlines() if not DIRECTIVE.match(line)).strip('\n')
            cell['outputs'] = [o for o in map(_quiet, cell.get('outputs', [])) if o is not None]
            if not source and not cell.get('outputs'):
                continue
        elif cell['cell_type'] == 'markdown':
            source = site_links(source)
        cell['source'] = source
        cells.append(cell)
    nb['cells'] = cells
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding='utf-8')


def _quiet(output: dict) -> dict | None:
    "A notebook output without the noise a reader should not see: stderr streams and the Trainer's log dicts."
    if output.get('output_type') != 'stream':
        return output
    if output.get('name') == 'stderr':
        return None
    text = ''.join(output['text']) if isinstance(output['text'], list) else output['text']
    kept = [line for line in text.splitlines(True) if not TRAINER_LOG.match(line)]
    return {**output, 'text': ''.join(kept)} if ''.join(kept).strip() else None


def stage_markdown(src: Path, dst: Path):
    "A markdown page (README or a page of nbs/) for the site, with the repository files it links or shows copied into the stage."
    text = src.read_text(encoding='utf-8')

    def relink(match):
        target = match.group(2)
        if re.match(r'[a-z]+:', target) or target.startswith('#'):
            return match.group(0)  # an external link or an anchor
        path = (src.parent/target.split('#')[0]).resolve()
        if not path.is_file() or not path.is_relative_to(ROOT):
            raise FileNotFoundError(f"{src.relative_to(ROOT)} links {target!r}, which is not a file of the repository")
        inside = path.relative_to(ROOT)
        if inside.parts[0] == 'nbs':  # another page of the site
            staged = STAGE/inside.relative_to('nbs')
        else:  # a file the page shows (a figure): copied into the stage at its repository path
            staged = STAGE/inside
            staged.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, staged)
        anchor = '#' + target.split('#', 1)[1] if '#' in target else ''
        return f"{match.group(1)}({Path(os.path.relpath(staged, dst.parent)).as_posix()}{anchor})"
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(re.sub(r'(\]|\]\[[^\]]*\])\(([^)\s]+)\)', relink, text), encoding='utf-8')


def paper_notebook(nb: Path) -> Path:
    "The executed copy of a paper notebook (`make paper-quick`), newer than its source."
    executed = EXECUTED/nb.name
    if not executed.exists() or executed.stat().st_mtime < nb.stat().st_mtime:
        raise FileNotFoundError(f"no executed copy of {nb.relative_to(ROOT)} newer than it in "
                                f"{EXECUTED.relative_to(ROOT)}/; run `make paper-quick` first (`make docs` does)")
    return executed


def _public_methods(cls) -> list[str]:
    "Names of the public methods a class defines itself (not inherited)."
    return [name for name, value in vars(cls).items()
            if not name.startswith('_') and inspect.isfunction(value)]


def stage_reference(dst: Path) -> list[str]:
    "One markdown page per module of `ia2`: `show_doc` of every public function, class and class method."
    from nbdev.showdoc import show_doc
    import ia2
    modules = sorted(p.stem for p in Path(ia2.__file__).parent.glob('*.py') if not p.stem.startswith('_'))
    dst.mkdir(parents=True, exist_ok=True)
    for name in modules:
        module = importlib.import_module(f'ia2.{name}')
        parts = [f'# ia2.{name}\n', f'> {(module.__doc__ or "").strip()}\n']
        for item in getattr(module, '__all__', []):
            obj = getattr(module, item)
            if not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue  # constants are documented in their notebook
            parts.append(show_doc(obj, name=item)._repr_markdown_())
            if inspect.isclass(obj):
                parts += [show_doc(getattr(obj, m), name=f'{item}.{m}', title_level=4)._repr_markdown_()
                          for m in _public_methods(obj)]
        text = SOURCE_LINK.sub('', '\n\n'.join(parts) + '\n')
        (dst/f'{name}.md').write_text(text, encoding='utf-8')
    return modules


def fetch_npm(package: str, sha256: str) -> Path:
    "The npm tarball of `package` (name@version), downloaded once into `.cache/npm/` and checked against `sha256`."
    NPM_CACHE.mkdir(parents=True, exist_ok=True)
    tarball = NPM_CACHE/(package.replace('@', '-') + '.tgz')
    if not tarball.exists():
        if shutil.which('npm') is None:
            raise RuntimeError(f"npm is needed once to download {package} for the offline site; install Node.js/npm "
                               f"(Debian: apt-get install npm) or put the tarball at {tarball}")
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(['npm', 'pack', package, '--pack-destination', tmp], check=True, capture_output=True)
            shutil.move(next(Path(tmp).glob('*.tgz')), tarball)
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    if digest != sha256:
        raise RuntimeError(f"{tarball.relative_to(ROOT)} has sha256 {digest}, not the pinned {sha256}; "
                           "delete it to download again, or update the pin in tools/build_docs.py on purpose")
    return tarball


def stage_mathjax(dst: Path):
    "MathJax's single-file TeX build and its woff fonts, from the npm tarball."
    with tarfile.open(fetch_npm(MATHJAX, MATHJAX_SHA256)) as tar:
        for member in tar.getmembers():
            name = member.name.removeprefix('package/es5/')
            if member.isfile() and (name == 'tex-chtml-full.js' or name.startswith('output/chtml/fonts/woff-v2/')):
                (dst/name).parent.mkdir(parents=True, exist_ok=True)
                (dst/name).write_bytes(tar.extractfile(member).read())


def stage_iframe_worker(dst: Path):
    "The self-contained shim of iframe-worker (what unpkg.com/iframe-worker/shim serves), from the npm tarball."
    with tarfile.open(fetch_npm(IFRAME_WORKER, IFRAME_WORKER_SHA256)) as tar:
        dst.write_bytes(tar.extractfile('package/shim/index.js').read())


def main():
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    if STAGE.exists():
        shutil.rmtree(STAGE)
    notebooks = [p for p in sorted((ROOT/'nbs').rglob('*.ipynb'))
                 if p.name != 'index.ipynb' and '.ipynb_checkpoints' not in p.parts]
    for nb in notebooks:
        paper = nb.parent == ROOT/'nbs'/'paper'
        stage_notebook(paper_notebook(nb) if paper else nb, STAGE/nb.relative_to(ROOT/'nbs'))
    pages = sorted((ROOT/'nbs').glob('*.md'))
    for page in pages:
        stage_markdown(page, STAGE/page.name)
    stage_markdown(ROOT/'README.md', STAGE/'index.md')
    modules = stage_reference(STAGE/'reference')
    stage_mathjax(STAGE/'assets'/'mathjax')
    stage_iframe_worker(STAGE/'assets'/'iframe-worker-shim.js')
    shutil.copytree(ROOT/'tools'/'docs_assets', STAGE/'assets', dirs_exist_ok=True)
    print(f"staged {len(notebooks)} notebooks, {len(pages)} pages, the home page and {len(modules)} reference pages in "
          f"{STAGE.relative_to(ROOT)}/")


if __name__ == '__main__':
    sys.exit(main())
