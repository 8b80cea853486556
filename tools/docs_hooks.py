"""mkdocs hooks (mkdocs.yml `hooks:`): heading ids that match a notebook's table of contents, and names in prose
linked to their API reference entries.

mkdocs-jupyter builds a notebook's table of contents from its markdown with inline code removed and repeated titles
numbered (`tasks`, `tasks_1`), while nbconvert ids headings from their full text and repeats ids. The headings of
the markdown cells and the table of contents list the same headings in the same order, so the n-th heading gets the
n-th entry's id (its nbconvert id stays on an empty anchor inside it, for links written against it).

A public name written as inline code in prose (`ia2.stats.collapse_frame`, or `ia2.train` for a name the package
exports) becomes a link to its entry on the reference page of the module that defines it (`reference/stats.md`,
written by tools/build_docs.py with one heading per name). Code blocks and existing links are left alone.
"""
import importlib
import inspect
import re
from functools import cache
from pathlib import Path

from bs4 import BeautifulSoup
from markdown.extensions.toc import slugify

NAME = re.compile(r'ia2(?:\.\w+)+')


def _flatten(toc) -> list:
    "The entries of a table of contents, depth first (document order)."
    return [entry for item in toc for entry in [item, *_flatten(item.children)]]


@cache
def reference_targets() -> dict[str, str]:
    "Each public function and class, by its dotted names, to `reference/<module>.html#<heading id>`."
    import ia2
    targets = {}
    for path in sorted(Path(ia2.__file__).parent.glob('*.py')):
        if path.stem.startswith('_'):
            continue
        module = importlib.import_module(f'ia2.{path.stem}')
        for item in getattr(module, '__all__', []):
            obj = getattr(module, item)
            if inspect.isfunction(obj) or inspect.isclass(obj):
                targets[f'ia2.{path.stem}.{item}'] = f'reference/{path.stem}.html#{slugify(item, "-")}'
    for item in getattr(ia2, '__all__', []) or [n for n in vars(ia2) if not n.startswith('_')]:
        obj = getattr(ia2, item, None)
        owner = getattr(obj, '__module__', '') or ''
        if (inspect.isfunction(obj) or inspect.isclass(obj)) and f'{owner}.{item}' in targets:
            targets[f'ia2.{item}'] = targets[f'{owner}.{item}']
    return targets


def _heading_ids(soup, page):
    headings = [h for h in soup.find_all(['h1', 'h2', 'h3', 'h4', 'h5', 'h6'])
                if h.find_parent(class_='jp-MarkdownCell') is not None]
    entries = _flatten(page.toc)
    if len(headings) != len(entries):
        raise ValueError(f"{page.file.src_uri}: {len(headings)} markdown headings but {len(entries)} table-of-contents "
                         "entries; the docs hook cannot pair them")
    for heading, entry in zip(headings, entries):
        anchor = entry.url.lstrip('#')
        if heading.get('id') != anchor:
            if heading.get('id'):
                heading.insert(0, soup.new_tag('a', attrs={'id': heading['id']}))
            heading['id'] = anchor


def _link_names(soup, page):
    "Wrap inline `ia2...` code naming a public function or class in a link to its reference entry."
    prefix = '../' * page.file.src_uri.count('/')
    own = page.file.src_uri.startswith('reference/')
    for code in soup.find_all('code'):
        if code.find_parent(['pre', 'a', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6']) is not None:
            continue
        text = code.get_text().strip().removesuffix('()')
        target = reference_targets().get(text) if NAME.fullmatch(text) else None
        if target is None or (own and target.split('#')[0] == page.file.src_uri.replace('.md', '.html')):
            continue
        link = soup.new_tag('a', href=prefix + target)
        code.wrap(link)


def on_page_content(html, page, config, files):
    soup = BeautifulSoup(html, 'html.parser')
    if page.file.src_uri.endswith('.ipynb'):
        _heading_ids(soup, page)
    _link_names(soup, page)
    return str(soup)
