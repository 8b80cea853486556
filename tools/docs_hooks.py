"""mkdocs hook (mkdocs.yml `hooks:`): give a notebook page's headings the ids its table of contents links to.

mkdocs-jupyter builds a notebook's table of contents from its markdown with inline code removed and repeated titles
numbered (`tasks`, `tasks_1`), while nbconvert ids headings from their full text and repeats ids. The headings of
the markdown cells and the table of contents list the same headings in the same order, so the n-th heading gets the
n-th entry's id (its nbconvert id stays on an empty anchor inside it, for links written against it).
"""
from bs4 import BeautifulSoup


def _flatten(toc) -> list:
    "The entries of a table of contents, depth first (document order)."
    return [entry for item in toc for entry in [item, *_flatten(item.children)]]


def on_page_content(html, page, config, files):
    if not page.file.src_uri.endswith('.ipynb'):
        return html
    soup = BeautifulSoup(html, 'html.parser')
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
    return str(soup)
