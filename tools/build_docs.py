"""Stage the documentation sources for mkdocs (`make docs`): notebooks, home page, API reference, offline MathJax.

mkdocs reads `_proc/docs/` (see mkdocs.yml), which this script rebuilds from scratch:
- every notebook of `nbs/` (library, executed real-model and `nbs/paper/` notebooks) with its committed outputs,
  minus what nbdev hides from docs: `#| hide` cells and the `#|` directive lines;
- `index.md`, the home page, from README.md (itself generated from `nbs/index.ipynb`), with the files it shows;
- `reference/<module>.md`, one page per module of `ia2`: nbdev's `show_doc` for every public function and class
  (those in `__all__`) and every public method a class defines, with signatures and docments;
- MathJax 3 (npm package `mathjax`, pinned below) under `assets/mathjax/`, so math renders with no network.
"""
import argparse, hashlib, importlib, inspect, json, re, shutil, subprocess, sys, tarfile, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGE = ROOT/'_proc'/'docs'
NPM_CACHE = ROOT/'.cache'/'npm'
MATHJAX = 'mathjax@3.2.2'  # the npm package whose es5 build is bundled
# sha256 of `npm pack mathjax@3.2.2` (npm also checks the registry's integrity field when it downloads)
MATHJAX_SHA256 = '1b9c0a1c44df864e915690558e72adb9cc5203360daefd385084ced3b6c64c09'
DIRECTIVE = re.compile(r'^\s*#\s*\|')


def _directives(source: str) -> list[str]:
    "The nbdev directives (`#| name ...`) of a cell."
    return [DIRECTIVE.sub('', line).strip() for line in source.splitlines() if DIRECTIVE.match(line)]


def stage_notebook(src: Path, dst: Path):
    "Copy one notebook for the site: drop `#| hide` cells and directive lines, keep every output."
    nb = json.loads(src.read_text(encoding='utf-8'))
    cells = []
    for cell in nb['cells']:
        source = ''.join(cell['source']) if isinstance(cell['source'], list) else cell['source']
        if cell['cell_type'] == 'code':
            directives = _directives(source)
            if any(d.split()[0] in ('hide', 'default_exp') for d in directives if d):
                continue
            source = '\n'.join(line for line in source.splitlines() if not DIRECTIVE.match(line)).strip('\n')
            if not source and not cell.get('outputs'):
                continue
        cell['source'] = source
        cells.append(cell)
    nb['cells'] = cells
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding='utf-8')


def stage_home(readme: Path, dst: Path):
    "The README as the home page, with the repository files it links or shows copied beside it."
    text = readme.read_text(encoding='utf-8')
    for target in sorted(set(re.findall(r'\]\(([^)#\s]+)\)', text))):
        if re.match(r'[a-z]+:', target):
            continue  # an external link
        path = ROOT/target
        if not path.is_file():
            raise FileNotFoundError(f"README.md links {target!r}, which is not a file of the repository; "
                                    "fix the link in nbs/index.ipynb and run `make readme`")
        (dst.parent/target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dst.parent/target)
    dst.write_text(text, encoding='utf-8')


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
        (dst/f'{name}.md').write_text('\n\n'.join(parts) + '\n', encoding='utf-8')
    return modules


def fetch_mathjax() -> Path:
    "The npm tarball of MathJax, downloaded once into `.cache/npm/` and checked against its pinned sha256."
    NPM_CACHE.mkdir(parents=True, exist_ok=True)
    tarball = NPM_CACHE/(MATHJAX.replace('@', '-') + '.tgz')
    if not tarball.exists():
        if shutil.which('npm') is None:
            raise RuntimeError(f"npm is needed once to download {MATHJAX} for offline math; install Node.js/npm "
                               f"(Debian: apt-get install npm) or put the tarball at {tarball}")
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(['npm', 'pack', MATHJAX, '--pack-destination', tmp], check=True, capture_output=True)
            shutil.move(next(Path(tmp).glob('*.tgz')), tarball)
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    if digest != MATHJAX_SHA256:
        raise RuntimeError(f"{tarball.relative_to(ROOT)} has sha256 {digest}, not the pinned {MATHJAX_SHA256}; "
                           "delete it to download again, or update MATHJAX_SHA256 in tools/build_docs.py on purpose")
    return tarball


def stage_mathjax(dst: Path):
    "MathJax's single-file TeX build and its woff fonts, from the npm tarball."
    with tarfile.open(fetch_mathjax()) as tar:
        for member in tar.getmembers():
            name = member.name.removeprefix('package/es5/')
            if member.isfile() and (name == 'tex-chtml-full.js' or name.startswith('output/chtml/fonts/woff-v2/')):
                (dst/name).parent.mkdir(parents=True, exist_ok=True)
                (dst/name).write_bytes(tar.extractfile(member).read())


def main():
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    if STAGE.exists():
        shutil.rmtree(STAGE)
    notebooks = [p for p in sorted((ROOT/'nbs').rglob('*.ipynb'))
                 if p.name != 'index.ipynb' and '.ipynb_checkpoints' not in p.parts]
    for nb in notebooks:
        stage_notebook(nb, STAGE/nb.relative_to(ROOT/'nbs'))
    stage_home(ROOT/'README.md', STAGE/'index.md')
    modules = stage_reference(STAGE/'reference')
    stage_mathjax(STAGE/'assets'/'mathjax')
    shutil.copytree(ROOT/'tools'/'docs_assets', STAGE/'assets', dirs_exist_ok=True)
    print(f"staged {len(notebooks)} notebooks, the home page and {len(modules)} reference pages in "
          f"{STAGE.relative_to(ROOT)}/")


if __name__ == '__main__':
    sys.exit(main())
