"""Markdown to safe HTML, on the server: answers and reports are model-written (and may quote
untrusted pages), so what reaches a browser is rendered by markdown-it-py with raw HTML off and
then sanitized by nh3 (Ammonia): no scripts, event handlers, styles or `javascript:` links,
and no images (a model-written image URL is a way to carry data out of a reader's browser)."""

from __future__ import annotations

import html
from collections.abc import Iterable

import nh3
from markdown_it import MarkdownIt

from aios.text import drop_empty_sections

# CommonMark with tables and strikethrough; raw HTML in the Markdown is shown as text.
_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(
    ["table", "strikethrough"]
)
_TAGS = {
    "a", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
    "li", "ol", "p", "pre", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
_ATTRIBUTES = {"a": {"href", "title"}, "th": {"align"}}
_URL_SCHEMES = {"http", "https", "mailto"}


def sanitize(fragment: str) -> str:
    return nh3.clean(
        fragment,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )


def markdown_to_html(markdown: str) -> str:
    """A sanitized HTML fragment of `markdown`, without headings that have nothing under them."""
    return sanitize(_MARKDOWN.render(drop_empty_sections(markdown)))


def html_document(title: str, markdown: str, sources: Iterable[tuple[str, str]] = ()) -> str:
    """A standalone HTML page: the title, the rendered report, and its sources (title, source)."""
    items = "".join(
        f"<li>{html.escape(name or source)} <code>{html.escape(source)}</code></li>"
        for name, source in sources
    )
    cited = f"<h2>Sources</h2><ol>{items}</ol>" if items else ""
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'\">"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;"
        "padding:0 1rem;line-height:1.5}blockquote{border-left:3px solid #ccc;margin-left:0;"
        "padding-left:1rem;color:#444}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
        "padding:.2rem .5rem}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{markdown_to_html(markdown)}{cited}</body></html>\n"
    )
