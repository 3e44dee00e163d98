"""The README and docs/: every relative link resolves to a file of the repository (and
an #anchor into a Markdown file to one of its headings), and the README stays a front
door, not a manual.  Plain text only: no framework is imported."""

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

REPO = Path(__file__).resolve().parents[1]
README_MAX_LINES = 220

FENCE = re.compile(r"^ {0,3}(```|~~~)")
CODE_SPAN = re.compile(r"(`+).+?\1")
# [text](target) or [text](target "title"); an image's ![alt](target) too
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+[\"'(][^)]*)?\)")
# [label]: target
REFERENCE_LINK = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def documents() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def prose_lines(text: str):
    """(line number, line) outside fenced code blocks."""
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield number, line


def links(text: str):
    """(line number, target) of every inline and reference link outside code."""
    for number, line in prose_lines(text):
        reference = REFERENCE_LINK.match(line)
        if reference:
            yield number, reference.group(1)
            continue
        for match in INLINE_LINK.finditer(CODE_SPAN.sub("", line)):
            yield number, match.group(1)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the rendered text in lower case, punctuation
    dropped (but hyphens and underscores), spaces turned into hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text stays
    text = re.sub(r"<[^>]+>", "", text).replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """The anchors of a Markdown text's headings; a repeated heading gets -1, -2, ..."""
    seen: dict[str, int] = {}
    found = set()
    for _, line in prose_lines(text):
        heading = HEADING.match(line)
        if not heading:
            continue
        base = slug(heading.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(path: Path, text: str | None = None) -> list[str]:
    """What is wrong with each relative link of the Markdown file ``path`` (whose text
    is ``text`` where given), one line each."""
    text = path.read_text() if text is None else text
    problems = []
    for number, target in links(text):
        where = f"{path.relative_to(REPO)}:{number}: {target}"
        if not target or SCHEME.match(target) or target.startswith("//"):
            continue  # a web address (https:, mailto:) is not the repository's to check
        file_part, _, anchor = target.partition("#")
        anchor = unquote(anchor)
        if not file_part:  # an anchor in the same file
            if anchor not in anchors(text):
                problems.append(f"{where}: no heading with the anchor #{anchor} here")
            continue
        resolved = (path.parent / unquote(file_part)).resolve()
        if not resolved.is_relative_to(REPO):
            problems.append(f"{where}: points outside the repository")
        elif not resolved.exists():
            problems.append(f"{where}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved.read_text()):
            problems.append(f"{where}: no heading with the anchor #{anchor} in {resolved.relative_to(REPO)}")
    return problems


def test_the_docs_are_there():
    assert (REPO / "docs").is_dir()
    names = {path.name for path in documents()}
    for name in ("measures.md", "results.md", "methodology.md", "gpu.md", "faults.md", "design.md", "adding.md",
                 "testing.md"):
        assert name in names, name


@pytest.mark.parametrize("path", documents(), ids=lambda path: str(path.relative_to(REPO)))
def test_every_relative_link_resolves(path):
    problems = broken_links(path)
    assert not problems, "\n".join(problems)


def test_the_readme_is_a_front_door_not_a_manual():
    lines = (REPO / "README.md").read_text().count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move the manual's part to docs/"


def test_a_broken_link_is_found():
    """The checks can fail: a missing file, a missing anchor (in another file or the
    same one) and a path out of the repository are each named; a web address, a link
    in code and good anchors are not."""
    text = "\n".join([
        "# A page", "## Second `part`", "## Second `part`",
        "[gone](nosuch.md) [anchor](design.md#no-such-heading) [out](../../outside.md)",
        "[web](https://example.org/x.md) `[code](nosuch-in-code.md)` [self](#second-part-1)",
        "```", "[fenced](nosuch-in-fence.md)", "```",
        "[ok](design.md#folders-are-layers) [file](../pyproject.toml) [here](#no-such-part)",
    ])
    problems = broken_links(REPO / "docs" / "example.md", text)
    assert len(problems) == 4, problems
    assert "nosuch.md: no such file" in problems[0]
    assert "no heading with the anchor #no-such-heading in docs/design.md" in problems[1]
    assert "points outside the repository" in problems[2]
    assert "no heading with the anchor #no-such-part here" in problems[3]


def test_slugs_follow_githubs_rules():
    assert slug("Verification: an error model") == "verification-an-error-model"
    assert slug("Cells that are skipped, and why") == "cells-that-are-skipped-and-why"
    assert slug("What `make bench` prints") == "what-make-bench-prints"
    assert slug("Adding a [link](x.md) and under_score") == "adding-a-link-and-under_score"
