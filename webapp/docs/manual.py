"""The manual: docs/*.md rendered to HTML for `/docs/dev/{name}.html`.

Only the names of files in docs/ are pages (never a path from the request), so
nothing outside docs/ can be read. Each page is rendered once per change of its
file (its mtime and size), links between pages (`tasks.md#results`) point at
the rendered pages, headings get ids for those anchors, and docs/index.md's
links make the table of contents.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup

PAGE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
PAGE_FILE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]*\.html$"
"""What `{page}` of /docs/dev/{page} looks like: a docs/*.md file's name, .html."""

INDEX = "index"
_MD_LINK = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_-]*)\.md(#.*)?$")


@dataclass(frozen=True)
class Heading:
    level: int
    anchor: str
    text: str


@dataclass(frozen=True)
class Page:
    name: str
    title: str
    html: Markup
    headings: tuple[Heading, ...]
    links: tuple[tuple[str, str], ...]
    """(text, page name) of each link to another page of the manual, in order."""


@dataclass(frozen=True)
class Contents:
    """The table of contents: index.md's links, then pages it does not link."""

    linked: tuple[tuple[str, str], ...]
    others: tuple[tuple[str, str], ...]


def slug(text: str) -> str:
    """A heading's anchor as GitHub makes it ('The pages' -> 'the-pages')."""
    lowered = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return lowered.replace(" ", "-")


def _plain(token: Token) -> str:
    return "".join(child.content for child in token.children or [] if child.type != "softbreak")


@dataclass
class Manual:
    directory: Path
    _cache: dict[str, tuple[tuple[int, int], Page]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def names(self) -> list[str]:
        try:
            files = list(self.directory.glob("*.md"))
        except OSError:
            return []
        return sorted(
            path.stem for path in files if PAGE_NAME.fullmatch(path.stem) and path.is_file()
        )

    def page(self, name: str) -> Page | None:
        """The rendered page, or None when docs/ has no such file."""
        names = self.names()
        if name not in names:
            return None
        path = self.directory / f"{name}.md"
        try:
            stat = path.stat()
        except OSError:
            return None
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._cache.get(name)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        rendered = render(name, path.read_text(encoding="utf-8"), set(names))
        with self._lock:
            self._cache[name] = (stamp, rendered)
        return rendered

    def contents(self) -> Contents:
        index = self.page(INDEX)
        linked = list(dict.fromkeys(index.links)) if index else []
        seen = {name for _, name in linked} | {INDEX}
        others = []
        for name in self.names():
            if name not in seen:
                page = self.page(name)
                others.append((page.title if page else name, name))
        return Contents(linked=tuple(linked), others=tuple(others))


def _markdown() -> MarkdownIt:
    # Raw HTML in the Markdown is shown as text, never passed through.
    return MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


_MD = _markdown()


def render(name: str, text: str, pages: set[str]) -> Page:
    tokens = _MD.parse(text)
    headings: list[Heading] = []
    links: list[tuple[str, str]] = []
    used: dict[str, int] = {}
    title = name
    for index, token in enumerate(tokens):
        if token.type == "heading_open":
            inline = tokens[index + 1]
            text_of_heading = _plain(inline)
            anchor = slug(text_of_heading) or "section"
            count = used.get(anchor, 0)
            used[anchor] = count + 1
            if count:
                anchor = f"{anchor}-{count}"
            token.attrSet("id", anchor)
            level = int(token.tag[1])
            headings.append(Heading(level, anchor, text_of_heading))
            if level == 1 and title == name:
                title = text_of_heading
        elif token.type == "inline":
            _rewrite_links(token, pages, links)
    env: dict[str, Any] = {}
    html = _MD.renderer.render(tokens, _MD.options, env)
    return Page(
        name=name,
        title=title,
        html=Markup(html),  # markdown-it escapes the text (html: False)
        headings=tuple(headings),
        links=tuple(links),
    )


def _rewrite_links(inline: Token, pages: set[str], links: list[tuple[str, str]]) -> None:
    """`tasks.md#x` -> `tasks.html#x` for pages of the manual; other links stay."""
    children = inline.children or []
    for position, child in enumerate(children):
        if child.type != "link_open":
            continue
        href = str(child.attrGet("href") or "")
        match = _MD_LINK.fullmatch(href)
        if not match or match.group(1) not in pages:
            continue
        target = match.group(1)
        child.attrSet("href", f"{target}.html{match.group(2) or ''}")
        text = []
        for following in children[position + 1 :]:
            if following.type == "link_close":
                break
            text.append(following.content)
        links.append(("".join(text), target))
