"""Text for people to read at a glance (CLI tables, the Temporal UI's current details), and the
lines of a prompt's markup that a model copies into what it writes."""

import re


def one_line(text: str, limit: int) -> str:
    """`text` on one line (whitespace runs folded), cut to `limit` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


_FENCES = ("```", "~~~")


def _heading_level(line: str) -> int:
    """The level of an ATX heading (`## Title` is 2), 0 for any other line."""
    stripped = line.lstrip(" ")
    if len(line) - len(stripped) > 3:
        return 0
    level = len(stripped) - len(stripped.lstrip("#"))
    rest = stripped[level:]
    return level if 1 <= level <= 6 and (not rest or rest[0] in " \t") else 0


def drop_empty_sections(markdown: str) -> str:
    """`markdown` without headings that have nothing under them (before the next heading of the
    same or a higher level): an answer never ends in "## Key points by source" and no more."""
    lines = markdown.splitlines()
    levels: list[int] = []
    fenced = False
    for line in lines:
        if line.lstrip().startswith(_FENCES):
            fenced = not fenced
            levels.append(0)
            continue
        levels.append(0 if fenced else _heading_level(line))
    keep = [True] * len(lines)
    for i, level in enumerate(levels):
        if not level:
            continue
        j = i + 1
        while j < len(lines) and not (levels[j] and levels[j] <= level):
            if not levels[j] and lines[j].strip():
                break
            j += 1
        else:
            keep[i] = False
        if j < len(lines) and levels[j] and levels[j] <= level:
            keep[i] = False
    out = "\n".join(line for line, kept in zip(lines, keep, strict=True) if kept).strip()
    return out + "\n" if markdown.endswith("\n") and out else out


# A line of the prompt's markup as a model copies it, even with the fence garbled (the bundled
# model echoes "BEGIN DOCUMENT [3] fence-…" in about half its answers, fence mangled or not).
_ECHOED_MARKUP = re.compile(
    r"^\W*(?:BEGIN|END) (?:DOCUMENT \[\d{1,3}\]|TOOL RESULT fence-)", re.IGNORECASE
)
_MARKUP_OPENINGS = (
    "BEGIN DOCUMENT [",
    "END DOCUMENT [",
    "BEGIN TOOL RESULT FENCE-",
    "END TOOL RESULT FENCE-",
)
_LEADING_PUNCTUATION = re.compile(r"^\W*")


def is_echoed_markup(line: str, fence: str) -> bool:
    """Whether `line` copies the prompt's fence markup (this call's `fence`, or the shape of a
    BEGIN/END line with the fence garbled)."""
    return fence in line or bool(_ECHOED_MARKUP.match(line))


def may_become_markup(unfinished: str, fence: str) -> bool:
    """Whether a line still being written could turn out to be markup: a stream holds it back
    until its end shows which."""
    if is_echoed_markup(unfinished, fence):
        return True
    head = _LEADING_PUNCTUATION.sub("", unfinished).upper()
    return any(opening.startswith(head) for opening in _MARKUP_OPENINGS)
