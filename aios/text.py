"""Text for people to read at a glance (CLI tables, the Temporal UI's current details)."""


def one_line(text: str, limit: int) -> str:
    """`text` on one line (whitespace runs folded), cut to `limit` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"
