"""Open the built site (`_docs/`) in headless Chromium with no network and check every page (`make docs-check`).

For the home page, every notebook page and every API reference page, Chromium loads the page from disk with all
network blocked (a proxy that refuses, and a resolver that finds no host), runs its JavaScript, and dumps the DOM.
Chromium runs without `--allow-file-access-from-files`, as an ordinary browser opening the files. A page fails when:
- a link, image, script or stylesheet of the site points to a file that is not in `_docs/` (or to a missing anchor);
- it loads any script or stylesheet from outside the site (a CDN), or links an external host not in
  `EXTERNAL_HOSTS` (links checked by hand; a placeholder repository URL or a `#LNone` source link fails);
- it is a paper page (`paper/`) that shows no table and no figure;
- it shows a Python traceback;
- raw TeX is left (`$$` outside code), or a page whose source has math shows no rendered MathJax.
It saves a screenshot of every page under `_docs/screenshots/` (look at them).
Chromium is Debian's `chromium` package (`apt-get install chromium`), or the binary named by `$CHROMIUM`.
"""
import argparse, os, shutil, subprocess, sys, tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import unquote, urlsplit

from bs4 import BeautifulSoup

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT/'_docs'
STAGE = ROOT/'_proc'/'docs'
EXTERNAL_HOSTS = {'arxiv.org', 'huggingface.co', 'download.pytorch.org', 'pypi.org'}  # external links checked by hand
TRACEBACK_MARKERS = ('Traceback (most recent call last)', 'Cell In[')
CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
                  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-extensions',
                  '--hide-scrollbars', '--mute-audio',
                  # no network: every http(s) request goes to a proxy that is not there, and no host name resolves
                  '--proxy-server=http://127.0.0.1:9', '--proxy-bypass-list=<-loopback>',
                  '--host-resolver-rules=MAP * ~NOTFOUND',
                  '--virtual-time-budget=20000']


def chromium() -> str:
    "The Chromium binary: `$CHROMIUM`, else Debian's `chromium`."
    binary = os.environ.get('CHROMIUM') or shutil.which('chromium') or shutil.which('chromium-browser')
    if binary is None:
        raise FileNotFoundError("headless Chromium is needed for the docs check: `apt-get install chromium` "
                                "(Debian), or set CHROMIUM to a Chromium binary")
    return binary


def run_chromium(page: Path, *args: str) -> str:
    "Load one page from disk with an empty profile and no network; stdout (the DOM with `--dump-dom`)."
    with tempfile.TemporaryDirectory(prefix='ia2-chromium-') as profile:
        result = subprocess.run([chromium(), *CHROMIUM_FLAGS, f'--user-data-dir={profile}', *args, page.as_uri()],
                                capture_output=True, text=True, timeout=180)
    if result.returncode != 0:
        raise RuntimeError(f"chromium failed on {page.relative_to(SITE)} (exit {result.returncode}):\n"
                           f"{result.stderr[-2000:]}")
    return result.stdout


def _ids(page: Path, cache: dict) -> set[str]:
    "The element ids of a site page (anchors a link may point to)."
    if page not in cache:
        soup = BeautifulSoup(page.read_text(encoding='utf-8'), 'html.parser')
        cache[page] = {tag['id'] for tag in soup.find_all(id=True)} | {tag['name'] for tag in soup.find_all('a', attrs={'name': True})}
    return cache[page]


def link_errors(page: Path, soup: BeautifulSoup, ids: dict) -> list[str]:
    "Links, images, scripts and stylesheets of `page` that point to no file (or no anchor) of the site."
    errors = []
    own_ids = {t['id'] for t in soup.find_all(id=True)} | {t['name'] for t in soup.find_all('a', attrs={'name': True})}
    for tag, attr in [('a', 'href'), ('img', 'src'), ('script', 'src'), ('link', 'href'), ('source', 'src')]:
        for element in soup.find_all(tag, attrs={attr: True}):
            url = urlsplit(element[attr])
            if url.scheme in ('http', 'https', '') and url.netloc:
                if tag in ('script', 'link', 'img', 'source'):
                    errors.append(f"<{tag} {attr}={element[attr]!r}>: loaded from outside the site (works only online)")
                elif url.hostname not in EXTERNAL_HOSTS or 'LNone' in url.fragment:
                    errors.append(f"<a href={element[attr]!r}>: an external link to a host not checked by hand "
                                  f"({', '.join(sorted(EXTERNAL_HOSTS))}); link a page of the site instead")
                continue
            if url.scheme in ('mailto', 'data', 'javascript'):
                continue
            if not url.scheme and not url.path:  # an anchor on this page
                if url.fragment and url.fragment not in own_ids and not url.fragment.startswith('__'):
                    errors.append(f"<a href={element[attr]!r}>: no element with id {url.fragment!r} on this page")
                continue
            if url.scheme == 'file':
                target = Path(unquote(url.path))
            elif url.scheme:
                errors.append(f"{element[attr]!r}: unexpected URL scheme")
                continue
            else:
                target = (page.parent/unquote(url.path)).resolve()
            if target.is_dir():
                target = target/'index.html'
            if not target.is_relative_to(SITE.resolve()) or not target.is_file():
                errors.append(f"<{tag} {attr}={element[attr]!r}>: no such file in _docs/")
            elif url.fragment and target.suffix == '.html' and tag == 'a' and url.fragment not in _ids(target, ids) \
                    and not url.fragment.startswith('__'):
                errors.append(f"<a href={element[attr]!r}>: no element with id {url.fragment!r} in "
                              f"{target.relative_to(SITE.resolve())}")
    return errors


def page_errors(page: Path, dom: str, ids: dict) -> list[str]:
    "Everything wrong with one rendered page."
    soup = BeautifulSoup(dom, 'html.parser')
    errors = link_errors(page, soup, ids)
    article = soup.find('article') or soup.body
    for tag in article.find_all(['script', 'style', 'noscript']):
        tag.decompose()
    text = article.get_text(' ')
    errors += [f"shows a Python traceback ({marker!r})" for marker in TRACEBACK_MARKERS if marker in text]
    if page.parent.name == 'paper' and not article.find(['table', 'img']):
        errors.append("a paper page that shows no table and no figure (publish the executed notebook)")
    rendered = article.find('mjx-container') is not None
    for tag in article.find_all(['pre', 'code', 'mjx-container']):
        tag.decompose()
    if '$$' in article.get_text(' '):
        errors.append("raw `$$` left on the page: math was not rendered")
    source = STAGE/page.relative_to(SITE).with_suffix('.ipynb')
    if not source.exists():
        source = source.with_suffix('.md')
    if source.exists() and '$$' in source.read_text(encoding='utf-8') and not rendered:
        errors.append("its source has `$$` math but the page shows no rendered MathJax")
    return errors


def pages_to_check() -> list[Path]:
    "The home page, every notebook page and every reference page of the built site."
    if not (SITE/'index.html').exists():
        raise FileNotFoundError("no built site in _docs/; run `make docs` first")
    staged = sorted(STAGE.rglob('*.ipynb')) + sorted(STAGE.glob('reference/*.md'))
    staged += sorted(p for p in STAGE.glob('*.md') if p.name != 'index.md')
    pages = [SITE/'index.html'] + [SITE/p.relative_to(STAGE).with_suffix('.html') for p in staged]
    missing = [str(p.relative_to(SITE)) for p in pages if not p.exists()]
    if missing:
        raise FileNotFoundError(f"the build made no page for {missing}; rerun `make docs`")
    return pages


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--jobs', type=int, default=2, help='Chromium processes at a time')
    args = parser.parse_args()
    pages = pages_to_check()
    ids: dict = {}
    with ThreadPoolExecutor(args.jobs) as pool:
        doms = list(pool.map(lambda p: run_chromium(p, '--dump-dom'), pages))
    failures = {p: e for p, dom in zip(pages, doms) if (e := page_errors(p, dom, ids))}
    shots = SITE/'screenshots'
    shots.mkdir(exist_ok=True)
    names = {page: shots/(str(page.relative_to(SITE).with_suffix('.png')).replace('/', '__')) for page in pages}
    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(lambda p: run_chromium(p, f'--screenshot={names[p]}', '--window-size=1280,2400'), pages))
    for page, shot in names.items():
        if not shot.exists() or shot.stat().st_size < 10_000:
            failures.setdefault(page, []).append(f"no usable screenshot at {shot.relative_to(ROOT)}")
    for page, errors in failures.items():
        print(f"FAIL {page.relative_to(SITE)}:\n  " + '\n  '.join(errors))
    print(f"checked {len(pages)} pages in headless Chromium with no network: "
          f"{len(pages) - len(failures)} ok, {len(failures)} failing; {len(names)} screenshots in {shots.relative_to(ROOT)}/")
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
