"""References lead somewhere: every relative link of the Markdown docs resolves inside the
repository, and neither docs nor code cite documents or issues a reader of the repository cannot
open ("DESIGN §n", "STYLE n", "issue #n").

Anchors are checked as GitHub renders them: a heading's slug is its text in lower case without
punctuation, spaces turned into hyphens, ``-1``, ``-2``… appended to repeats.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.deploy.conftest import REPO_ROOT

DOCS = sorted(
    p
    for p in [
        REPO_ROOT / "README.md",
        *REPO_ROOT.glob("docs/**/*.md"),
        *REPO_ROOT.glob("deploy/**/*.md"),
    ]
    if p.is_file()
)
# Where citations are looked for: what a reader of the code opens.
CODE_ROOTS = (
    "services",
    "shared",
    "cms",
    "client",
    "tools",
    "tests",
    "scripts",
    "docs",
    "deploy",
    ".ci",
)
CODE_FILES = ("README.md", "Makefile")
CODE_SUFFIXES = {".py", ".md", ".sh", ".yaml", ".yml", ".toml", ".json", ".html", ".j2", ".cfg"}

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
HTML_ANCHOR = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)
# "DESIGN §6" (also as JSON or YAML escapes), "STYLE habit 6", "STYLE.md", "issue #9", "(#3: …".
CITATION = re.compile(
    r"DESIGN(?:\.md|\s*(?:§|\\x[aA]7|\\u00a7))|STYLE(?:\.md|\s+(?:habit\s+)?§?\d)"
    r"|[Ii]ssues?\s+#\d|(?<!\])\(#\d+\b|, #\d+\)"
)


def _prose(path: Path) -> list[str]:
    """The lines of a Markdown file outside fenced code blocks, inline code blanked."""
    lines: list[str] = []
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
            lines.append("")
            continue
        lines.append("" if fenced else INLINE_CODE.sub("code", line))
    return lines


def _slug(heading: str) -> str:
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading: its text
    text = re.sub(r"[^\w\- ]", "", text.replace("`", "").lower())
    return text.replace(" ", "-")


@cache
def _anchors(path: Path) -> frozenset[str]:
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        anchors.update(HTML_ANCHOR.findall(line))
        if heading := HEADING.match(line):
            slug = _slug(heading.group(1))
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            anchors.add(slug if count == 0 else f"{slug}-{count}")
    return frozenset(anchors)


def _links(path: Path) -> list[str]:
    # Link text may wrap onto the next line: search the joined prose.
    return LINK.findall("\n".join(_prose(path)))


def _broken(doc: Path, target: str) -> str | None:
    """Why ``target`` (a link of ``doc``) leads nowhere, or None when it resolves in the repo."""
    if EXTERNAL.match(target):
        return None  # a public URL (a specification, a format's home page), not a repository file
    file_part, _, anchor = target.partition("#")
    resolved = (doc.parent / unquote(file_part)).resolve() if file_part else doc
    if not resolved.is_relative_to(REPO_ROOT):
        return "points outside the repository"
    if not resolved.exists():
        return "no such file"
    if anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
        return f"no heading with anchor #{anchor} in {resolved.relative_to(REPO_ROOT)}"
    return None


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_relative_link_resolves_inside_the_repository(doc: Path) -> None:
    links = _links(doc)
    broken = [f"{t}: {why}" for t in links if (why := _broken(doc, t)) is not None]
    assert not broken, f"{doc.relative_to(REPO_ROOT)}: links that lead nowhere: {broken}"


def test_the_architecture_links_only_inside_the_repository() -> None:
    external = [t for t in _links(REPO_ROOT / "docs" / "architecture.md") if EXTERNAL.match(t)]
    assert not external, f"docs/architecture.md links outside the repository: {external}"


def test_the_link_check_sees_broken_links(tmp_path: Path) -> None:
    """The checker itself: a missing file, a missing anchor, an escape, and good links."""
    doc = REPO_ROOT / "docs" / "architecture.md"
    assert _broken(doc, "pipeline.md#1-planning-exporter-planningpy") is None
    assert _broken(doc, "#the-gateway-servicesgatewaysrccdds_gateway") is None
    assert _broken(doc, "https://example.org/") is None
    assert _broken(doc, "pipeline.md#no-such-heading") is not None
    assert _broken(doc, "no-such-file.md") is not None
    assert _broken(doc, "../../outside.md") == "points outside the repository"
    assert _slug("Lists and `make load`") == "lists-and-make-load"
    assert _slug("Interaction — `cdds.interaction/1`") == "interaction--cddsinteraction1"


def _code_files() -> list[Path]:
    files = [REPO_ROOT / name for name in CODE_FILES]
    for root in CODE_ROOTS:
        files += [p for p in (REPO_ROOT / root).rglob("*") if p.suffix in CODE_SUFFIXES]
    return sorted(p for p in files if p.is_file() and ".venv" not in p.parts)


def test_no_citation_of_documents_outside_the_repository() -> None:
    this_file = Path(__file__).resolve()
    found = [
        f"{path.relative_to(REPO_ROOT)}:{number}: {line.strip()}"
        for path in _code_files()
        if path != this_file
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if CITATION.search(line)
    ]
    assert not found, "cite docs/… instead of DESIGN, STYLE or issue numbers:\n" + "\n".join(found)


def test_the_citation_pattern_sees_each_form() -> None:
    cited = ["DESIGN §6", "(DESIGN \\u00a76)", "(DESIGN \\xA73)", "DESIGN.md", "../shared/STYLE.md"]
    cited += ["STYLE 6", "STYLE habit 5", "issue #9", "Issue #9 found", "issues #4, #9"]
    cited += ["pipeline (#3: the exporter", "(410, gateway, #4)"]
    for text in cited:
        assert CITATION.search(text), text
    for plain in ("RFC 5280 §4.2.1.3", "docs/pipeline.md § 11", "[§3](#3-sealing)", "PKCS#7"):
        assert not CITATION.search(plain), plain


# "docs/pipeline.md §11", "docs/api.md § Who sees what", 'docs/pipeline.md, "Fair share"'.
SECTION_CITED = re.compile(
    r"((?:docs/[\w./-]+|README)\.md)(?:,? ?§ ?([^)\]\"`.:;,\n]+)|, \"([^\"\n]+)\")"
)


def _headings(path: Path) -> list[str]:
    """The headings of a Markdown file outside fenced code, lower case, backticks dropped."""
    headings: list[str] = []
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced and (heading := HEADING.match(line)):
            headings.append(heading.group(1).replace("`", "").lower())
    return headings


def _section_missing(cited_file: str, title: str) -> str | None:
    """Why a cited section of ``cited_file`` cannot be found, or None when a heading matches."""
    path = REPO_ROOT / cited_file
    if not path.is_file():
        return "no such file"
    title = title.strip().lower()
    headings = _headings(path)
    if title.isdigit():  # "§11": the numbered heading "11. Reliability: …"
        found = any(h.startswith(f"{title}. ") for h in headings)
    else:
        found = any(h.startswith(title) for h in headings)
    return None if found else f"no heading {title!r}"


def test_every_cited_section_exists() -> None:
    missing = []
    for path in _code_files():
        text = path.read_text(encoding="utf-8")
        for m in SECTION_CITED.finditer(text):
            why = _section_missing(m.group(1), m.group(2) or m.group(3))
            if why is not None:
                missing.append(f"{path.relative_to(REPO_ROOT)}: {m.group(0)!r}: {why}")
    assert not missing, "citations of sections that do not exist:\n" + "\n".join(missing)


def test_the_section_check_sees_missing_sections() -> None:
    assert _section_missing("docs/pipeline.md", "11") is None
    assert _section_missing("docs/operations.md", "Lists and make load") is None
    assert _section_missing("docs/pipeline.md", "12") is not None
    assert _section_missing("docs/api.md", "No such section") is not None
    assert _section_missing("docs/nothing.md", "Any") == "no such file"
