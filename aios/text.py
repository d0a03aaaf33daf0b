"""Text for people to read at a glance (CLI tables, the Temporal UI's current details)."""


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
