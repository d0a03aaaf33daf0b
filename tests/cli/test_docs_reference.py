"""The docs a newcomer reads stay true: the generated references match the code they are
generated from, the README stays short, and every relative link points at a file that exists."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from cli import config_reference, docs_reference
from cli.reference_markdown import COMMAND
from tests.conftest import REPO

README_LIMIT = 12 * 1024


@pytest.mark.parametrize(
    "path, generate",
    [
        (docs_reference.API_REFERENCE, docs_reference.api_reference),
        (config_reference.CONFIGURATION_REFERENCE, config_reference.configuration_reference),
    ],
    ids=["api", "configuration"],
)
def test_the_generated_references_match_the_code(path: Path, generate: Callable[[], str]) -> None:
    name = path.relative_to(REPO).as_posix()
    current = path.read_text() if path.exists() else ""
    expected = generate()
    if current != expected:
        old, new = current.splitlines(), expected.splitlines()
        line = next(
            (i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b),
            min(len(old), len(new)),
        )
        pytest.fail(
            f"{name} is out of date with the code it is generated from (first difference at "
            f"line {line + 1}): run `{COMMAND}` "
            f"(.venv/bin/python -m cli.docs_reference) and commit it",
            pytrace=False,
        )


def test_every_setting_has_a_description() -> None:
    missing = config_reference.undocumented_settings()
    assert not missing, (
        f"settings without a description (Field(description=...) in aios/config/), so the "
        f"configuration reference would leave them unexplained: {', '.join(missing)}"
    )


def test_the_readme_stays_short() -> None:
    size = len((REPO / "README.md").read_bytes())
    assert size <= README_LIMIT, (
        f"README.md is {size} bytes, over {README_LIMIT}: move detail into docs/ and link to it"
    )


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|^\[[^\]]+\]:\s*(\S+)", re.M)
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)


def _relative_links(path: Path) -> list[str]:
    text = FENCE.sub("", path.read_text())
    text = re.sub(r"`[^`\n]*`", "", text)  # code spans are not links
    targets = [a or b for a, b in LINK.findall(text)]
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:|^#", t)]


def test_every_relative_link_in_the_docs_points_at_a_file() -> None:
    pages = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
    broken = [
        f"{page.relative_to(REPO)}: {target}"
        for page in pages
        for target in _relative_links(page)
        if not (page.parent / target.split("#", 1)[0]).exists()
    ]
    assert not broken, "links to files that do not exist:\n" + "\n".join(broken)
