"""Turning a document's bytes into text and a title, by type: text/Markdown, HTML, PDF, JSON, CSV.

HTML headings become Markdown headings so the chunker keeps the structure; JSON and CSV become
`field: value` lines, which read well to a model and to a keyword search.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from activities.knowledge.chunking import title_from_text
from aios.errors import UserError
from aios.vocabulary import INGESTIBLE_SUFFIXES

TEXT_TYPES = {".txt", ".text", ".md", ".markdown", ".rst", ""}
SUPPORTED = sorted(INGESTIBLE_SUFFIXES)
_MIME_SUFFIX = {
    "text/html": ".html",
    "application/xhtml+xml": ".html",
    "application/pdf": ".pdf",
    "application/json": ".json",
    "text/csv": ".csv",
    "text/markdown": ".md",
    "text/plain": ".txt",
}


@dataclass(frozen=True)
class LoadedText:
    text: str
    title: str | None


def kind_of(name: str, content_type: str | None) -> str:
    """The loader to use: by file suffix, else by media type, else plain text."""
    suffix = PurePosixPath(name).suffix.lower()
    if suffix in INGESTIBLE_SUFFIXES:
        return ".html" if suffix == ".htm" else suffix
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media in _MIME_SUFFIX:
        return _MIME_SUFFIX[media]
    if suffix and suffix not in TEXT_TYPES:
        raise UserError(
            f"{name}: unsupported file type {suffix}; supported: {', '.join(SUPPORTED)}"
        )
    return ".txt"


def _decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def load_text(data: bytes, *, name: str, content_type: str | None = None) -> LoadedText:
    kind = kind_of(name, content_type)
    loader = _LOADERS.get(kind, _plain)
    loaded = loader(data, name)
    if not loaded.text.strip():
        raise UserError(f"{name}: no text to index")
    return loaded


def _plain(data: bytes, _name: str) -> LoadedText:
    text = _decode(data)
    return LoadedText(text, title_from_text(text))


def _html(data: bytes, _name: str) -> LoadedText:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(data, "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "nav", "footer", "svg"]):
        tag.decompose()
    title = soup.title.get_text(" ", strip=True) if soup.title else None
    for level in range(1, 7):
        for heading in soup.find_all(f"h{level}"):
            heading.replace_with(f"\n\n{'#' * level} {heading.get_text(' ', strip=True)}\n\n")
    for block in soup.find_all(["p", "li", "tr", "div", "section", "article", "br", "pre"]):
        block.insert_after("\n\n")
    body = soup.body or soup
    lines = [" ".join(line.split()) for line in body.get_text().splitlines()]
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return LoadedText(text.strip(), title or title_from_text(text))


def _pdf(data: bytes, name: str) -> LoadedText:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError) as e:
        raise UserError(f"{name}: not a readable PDF ({e})") from None
    meta_title = (reader.metadata.title if reader.metadata else None) or None
    return LoadedText("\n\n".join(p.strip() for p in pages if p.strip()), meta_title)


def _lines(value: Any, prefix: str = "") -> list[str]:
    if isinstance(value, dict):
        out: list[str] = []
        for key, item in value.items():
            out += _lines(item, f"{prefix}{key}." if isinstance(item, dict | list) else "")
            if not isinstance(item, dict | list):
                out[-1] = f"{prefix}{key}: {out[-1]}"
        return out
    if isinstance(value, list):
        return [line for item in value for line in _lines(item, prefix)]
    return ["" if value is None else str(value)]


def _json(data: bytes, name: str) -> LoadedText:
    try:
        value = json.loads(_decode(data))
    except json.JSONDecodeError as e:
        raise UserError(f"{name}: not valid JSON ({e.msg} at line {e.lineno})") from None
    records = value if isinstance(value, list) else [value]
    text = "\n\n".join("\n".join(_lines(record)) for record in records)
    title = value.get("title") if isinstance(value, dict) else None
    return LoadedText(text, str(title) if title else None)


def _csv(data: bytes, name: str) -> LoadedText:
    text = _decode(data)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    rows = list(csv.DictReader(io.StringIO(text), dialect=dialect))
    if not rows:
        raise UserError(f"{name}: the CSV has a header but no rows")
    blocks = [
        "\n".join(f"{key}: {value}" for key, value in row.items() if key and value) for row in rows
    ]
    return LoadedText("\n\n".join(blocks), None)


_LOADERS = {".html": _html, ".pdf": _pdf, ".json": _json, ".csv": _csv}
