"""The glossary, notebooks/glossary.md: one place that explains every term in plain words. A term's first use on the
core path (notebooks 00 to 06, in order, outside the optional sections) explains it there, in bold as the course
defines a term, or links to its entry; the glossary says where each term is taught."""

from __future__ import annotations

import re

import pytest
from test_course_text import WALKTHROUGHS, cells

from helpers import ROOT

GLOSSARY = ROOT / "notebooks" / "glossary.md"
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)  # code is code, not prose that uses a term
LINK_TARGET = re.compile(r"\]\([^)]*\)")


def slug(term: str) -> str:
    """The anchor Sphinx (MyST) gives the heading ``### term``."""
    return re.sub(r"[^\w\- ]", "", term.lower()).strip().replace(" ", "-")


def entries() -> dict[str, list[str]]:
    """Each term's heading -> its spellings (the heading, then the ``*Also: ...*`` line's)."""
    lines = GLOSSARY.read_text(encoding="utf-8").splitlines()
    found: dict[str, list[str]] = {}
    for index, line in enumerate(lines):
        if line.startswith("### "):
            term = line[4:].strip()
            following = lines[index + 1].strip() if index + 1 < len(lines) else ""
            also = following.strip("*").removeprefix("Also:").split(",") if following.startswith("*Also:") else []
            found[term] = [term, *(a.strip() for a in also if a.strip())]
    return found


def prose(text: str) -> str:
    return LINK_TARGET.sub("]", CODE.sub(" ", text))


def first_use(spellings: list[str]) -> tuple[str, str, str] | None:
    """(notebook, the cell's text, the spelling found) of the term's first use in core markdown."""
    pattern = re.compile(r"(?<![\w-])(" + "|".join(re.escape(s) for s in spellings) + r")(?![\w-])", re.IGNORECASE)
    for path in WALKTHROUGHS:
        for cell in cells(path):
            if cell.kind == "markdown" and not cell.optional:
                found = pattern.search(prose(cell.source))
                if found:
                    return path.stem, cell.source, found[1]
    return None


def test_the_glossary_has_entries_in_order_each_saying_where_it_is_taught():
    text = GLOSSARY.read_text(encoding="utf-8")
    terms = list(entries())
    assert len(terms) >= 40
    assert len({t.lower() for t in terms}) == len(terms), "each term once"
    for block in re.split(r"\n(?=### )", text)[1:]:
        assert re.search(r"\*(Taught in notebook \d\d[^*]*|Not taught in a notebook: explained here)\.\*", block), block


@pytest.mark.parametrize("term", sorted(entries()) if GLOSSARY.exists() else [], ids=str)
def test_a_terms_first_use_on_the_core_path_explains_it_or_links_to_it(term):
    spellings = entries()[term]
    used = first_use(spellings)
    if used is None:
        return  # met only in optional sections or worksheets: the glossary explains it
    notebook, source, spelling = used
    bold = re.findall(r"\*\*(.+?)\*\*", source, re.DOTALL)  # each bold span, paired left to right
    defined = any(re.search(rf"(?<![\w-]){re.escape(spelling)}(?![\w-])", span, re.IGNORECASE) for span in bold)
    linked = f"glossary.md#{slug(term)}" in source
    assert defined or linked, (
        f"{notebook}: {spelling!r} is first used here without being explained: make that use bold where the text "
        f"explains it, or link it to [{spelling}](glossary.md#{slug(term)}).\n{source[:300]}"
    )
