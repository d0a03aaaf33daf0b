"""Markdown to safe HTML, on the server: answers and reports are model-written (and may quote
untrusted pages), so what reaches a browser is rendered by markdown-it-py with raw HTML off and
then sanitized by nh3 (Ammonia): no scripts, event handlers, styles or `javascript:` links,
and no images (a model-written image URL is a way to carry data out of a reader's browser).

PDF (`pdf_document`) is drawn by fpdf2 from that same sanitized HTML: pure Python, installed from
PyPI alone (no system libraries, unlike WeasyPrint's Pango), with the DejaVu fonts matplotlib ships
(a dependency already), so any Unicode a report holds is drawn (decision 0046)."""

from __future__ import annotations

import html
import importlib.util
from collections.abc import Iterable
from pathlib import Path

import nh3
from fpdf import FPDF
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


def _font_dir() -> Path | None:
    """matplotlib's bundled DejaVu fonts (found without importing matplotlib), else Debian's."""
    spec = importlib.util.find_spec("matplotlib")
    for root in [*(spec.submodule_search_locations or [])] if spec else []:
        folder = Path(root) / "mpl-data" / "fonts" / "ttf"
        if (folder / "DejaVuSans.ttf").is_file():
            return folder
    debian = Path("/usr/share/fonts/truetype/dejavu")
    return debian if (debian / "DejaVuSans.ttf").is_file() else None


_FACES = {
    ("dejavu", ""): "DejaVuSans.ttf",
    ("dejavu", "B"): "DejaVuSans-Bold.ttf",
    ("dejavu", "I"): "DejaVuSans-Oblique.ttf",
    ("dejavu", "BI"): "DejaVuSans-BoldOblique.ttf",
    ("dejavu-mono", ""): "DejaVuSansMono.ttf",
    ("dejavu-mono", "B"): "DejaVuSansMono-Bold.ttf",
    ("dejavu-mono", "I"): "DejaVuSansMono-Oblique.ttf",
    ("dejavu-mono", "BI"): "DejaVuSansMono-BoldOblique.ttf",
}


def _latin1(text: str) -> str:
    """Without a Unicode font, the PDF core fonts draw Windows-1252 only: the rest becomes '?'."""
    return text.encode("cp1252", errors="replace").decode("cp1252")


def pdf_document(title: str, markdown: str, sources: Iterable[tuple[str, str]] = ()) -> bytes:
    """The report as a PDF: the title, the rendered report (the sanitized HTML of
    `markdown_to_html`, so links are http(s)/mailto only and there are no images) and its sources.
    A body fpdf2 cannot lay out (a table with ragged rows) is drawn as plain text instead."""
    pdf = FPDF(format="A4")
    pdf.set_title(title)
    pdf.set_creator("AIOS")
    fonts = _font_dir()
    family, mono = ("dejavu", "dejavu-mono") if fonts else ("helvetica", "courier")
    if fonts:
        for (name, style), file in _FACES.items():
            pdf.add_font(name, style, str(fonts / file))
    clean = (lambda text: text) if fonts else _latin1
    pdf.set_margins(20, 20, 20)
    pdf.add_page()
    body = markdown_to_html(clean(markdown))
    items = "".join(
        f"<li>{html.escape(clean(name or source))} "
        + (
            f'<a href="{html.escape(source)}">{html.escape(clean(source))}</a>'
            if source.startswith(("http://", "https://"))
            else f"<code>{html.escape(clean(source))}</code>"
        )
        + "</li>"
        for name, source in sources
    )
    cited = f"<h2>Sources</h2><ol>{items}</ol>" if items else ""
    page = f"<h1>{html.escape(clean(title))}</h1>{body}{cited}"
    try:
        pdf.write_html(page, font_family=family, pre_code_font=mono)
    except Exception:  # fpdf2's HTML layout refuses some shapes (ragged tables): keep the text
        pdf = FPDF(format="A4")
        pdf.set_title(title)
        if fonts:
            pdf.add_font(family, "", str(fonts / _FACES[(family, "")]))
        pdf.add_page()
        pdf.set_font(family, size=11)
        plain = "\n".join([clean(title), "", clean(markdown), ""])
        plain += "".join(f"\n[{n}] {clean(s)}" for n, (_, s) in enumerate(sources, 1))
        pdf.multi_cell(0, 6, plain)
    return bytes(pdf.output())
