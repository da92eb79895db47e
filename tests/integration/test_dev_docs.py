"""GET /docs/dev (route 45): the manual in docs/*.md, rendered as HTML pages."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from webapp.docs.manual import Manual
from webapp.settings import ROOT

DOCS = ROOT / "docs"


async def test_the_manual_starts_at_its_index(client):
    response = await client.get("/docs/dev")
    assert response.status_code == 302
    assert response.headers["location"] == "/docs/dev/index.html"


async def test_the_index_page_needs_no_credentials_and_lists_the_manual(client):
    response = await client.get("/docs/dev/index.html")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "<h1" in page and "luna-admin manual</h1>" in page
    # The table of contents is docs/index.md's links, each to its rendered page.
    linked = re.findall(r"\]\(([a-z_-]+)\.md\)", (DOCS / "index.md").read_text())
    assert linked
    toc = page.split('data-testid="manual-toc"', 1)[1].split("</nav>", 1)[0]
    for name in linked:
        assert f'href="{name}.html"' in toc
    assert ".md" not in toc


@pytest.mark.parametrize("name", sorted(path.stem for path in DOCS.glob("*.md")))
async def test_every_page_of_docs_is_served(client, name):
    response = await client.get(f"/docs/dev/{name}.html")
    assert response.status_code == 200
    first_heading = re.search(r"^# (.+)$", (DOCS / f"{name}.md").read_text(), re.M)
    assert first_heading is not None
    assert f"<title>{first_heading.group(1)}" in response.text.replace("&#39;", "'")
    # Nothing loaded from elsewhere; every link between pages leads to a page.
    assert not re.search(r'(src)="(https?:)?//', response.text)
    article = response.text.split('data-testid="manual-page"', 1)[1]
    for target in re.findall(r'href="([a-z_-]+)\.html(?:#[^"]*)?"', article):
        assert (DOCS / f"{target}.md").exists(), target
    assert not re.search(r'href="[a-z_-]+\.md', article)


async def test_links_to_sections_of_other_pages_work(client):
    api = (await client.get("/docs/dev/api.html")).text
    assert 'href="schedules.html#the-pages"' in api
    schedules = (await client.get("/docs/dev/schedules.html")).text
    assert 'id="the-pages"' in schedules


@pytest.mark.parametrize(
    "path",
    [
        "/docs/dev/nothing-here.html",
        "/docs/dev/index.md",
        "/docs/dev/index",
        "/docs/dev/.html",
        "/docs/dev/..%2FREADME.html",
        "/docs/dev/%2e%2e%2fREADME.html",
        "/docs/dev/../README.html",
        "/docs/dev/README.html",
    ],
)
async def test_unknown_pages_are_404(client, path):
    response = await client.get(path)
    assert response.status_code == 404
    assert response.json()["error_code"] == 12013
    assert "manual" not in response.text


async def test_a_browser_gets_404_as_a_page(client):
    response = await client.get("/docs/dev/nothing.html", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")


# ------------------------------------------------------- the renderer on its own


def write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def test_raw_html_in_the_markdown_is_shown_as_text(tmp_path):
    write(tmp_path / "index.md", "# Home\n\n<script>alert(1)</script>\n\n<b>bold</b>\n")
    page = Manual(tmp_path).page("index")
    assert page is not None
    assert "<script>" not in page.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.html


def test_a_page_is_rendered_again_only_when_its_file_changes(tmp_path):
    write(tmp_path / "index.md", "# First\n")
    manual = Manual(tmp_path)
    first = manual.page("index")
    assert first is not None and first.title == "First"
    assert manual.page("index") is first  # from the cache
    write(tmp_path / "index.md", "# Second version\n")
    stat = (tmp_path / "index.md").stat()
    os.utime(tmp_path / "index.md", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    second = manual.page("index")
    assert second is not None and second.title == "Second version"


def test_contents_follow_the_index_and_name_the_other_pages(tmp_path):
    write(tmp_path / "index.md", "# Manual\n\n- [Beta first](b.md)\n- [Alpha](a.md#x)\n")
    write(tmp_path / "a.md", "# Alpha page\n\n## X\n")
    write(tmp_path / "b.md", "# Beta page\n")
    write(tmp_path / "c.md", "# Gamma page\n")
    write(tmp_path / "not a page.md", "# spaces are not in page names\n")
    contents = Manual(tmp_path).contents()
    assert contents.linked == (("Beta first", "b"), ("Alpha", "a"))
    assert contents.others == (("Gamma page", "c"),)
    index = Manual(tmp_path).page("index")
    assert index is not None
    assert 'href="a.html#x"' in index.html
    a = Manual(tmp_path).page("a")
    assert a is not None and 'id="x"' in a.html


def test_headings_get_unique_anchors(tmp_path):
    write(tmp_path / "index.md", "# T\n\n## Set up `make`\n\n## Set up `make`\n")
    page = Manual(tmp_path).page("index")
    assert page is not None
    assert [h.anchor for h in page.headings] == ["t", "set-up-make", "set-up-make-1"]


def test_only_files_of_the_directory_are_pages(tmp_path):
    (tmp_path / "docs").mkdir()
    write(tmp_path / "secret.md", "# not in docs\n")
    write(tmp_path / "docs" / "index.md", "# In docs\n")
    manual = Manual(tmp_path / "docs")
    assert manual.names() == ["index"]
    assert manual.page("../secret") is None
    assert manual.page("secret") is None
