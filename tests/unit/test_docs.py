"""The documentation a user of the repository has: docs/api.md and docs/domain.md, and the citations into them.

Code cites the API as "CONTRACT §5" or "CONTRACT §7 G3" (docs/api.md is that contract, numbered
alike) and the domain reference as docs/domain.md "Time limits"; each citation must land on a
section that exists, and nothing may send a reader outside the repository (`../shared`).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
API = ROOT / "docs" / "api.md"
DOMAIN = ROOT / "docs" / "domain.md"
# What a user of the repository reads: the installed code, the service files and the top-level docs.
READ_BY_USERS = ["lapor_sync", "adapters", "scheduler", "mappings", "deploy", "docs", "scripts", "benchmarks"]
TOP_LEVEL_DOCS = ["README.md", "SECURITY.md", "BENCHMARKS.md", "Containerfile"]
API_CITATION = re.compile(r"(?:CONTRACT|docs/api\.md) §(?P<section>\d+)(?: (?P<fact>G\d+))?")
DOMAIN_CITATION = re.compile(r'docs/domain\.md,? "(?P<section>[^"]+)"')


def user_files() -> list[Path]:
    files = [ROOT / name for name in TOP_LEVEL_DOCS]
    for folder in READ_BY_USERS:
        files += [path for path in (ROOT / folder).rglob("*") if path.suffix in {".py", ".md", ".toml", ".service"}]
    return files


def cited(pattern: re.Pattern[str]) -> dict[tuple[str | None, ...], list[str]]:
    """Each citation of ``pattern`` in the users' files and tests -> where it is made."""
    found: dict[tuple[str | None, ...], list[str]] = {}
    for path in [*user_files(), *(ROOT / "tests").rglob("*.py")]:
        for match in pattern.finditer(path.read_text(encoding="utf-8")):
            found.setdefault(match.groups(), []).append(str(path.relative_to(ROOT)))
    return found


def test_nothing_sends_a_reader_outside_the_repository() -> None:
    offenders = [str(path.relative_to(ROOT)) for path in user_files() if "../shared" in path.read_text()]
    assert offenders == []


def test_every_api_citation_names_a_section_and_fact_of_docs_api() -> None:
    text = API.read_text()
    citations = cited(API_CITATION)
    assert citations, "no citation found: the pattern no longer matches the code's habit"
    missing = {
        citation: where
        for citation, where in citations.items()
        if f"\n## {citation[0]}. " not in text or (citation[1] is not None and f"\n| {citation[1]} |" not in text)
    }
    assert missing == {}


def test_every_domain_citation_names_a_section_of_docs_domain() -> None:
    headings = [line.removeprefix("## ") for line in DOMAIN.read_text().splitlines() if line.startswith("## ")]
    citations = cited(DOMAIN_CITATION)
    assert citations
    missing = {
        section: where
        for (section,), where in citations.items()
        if not any(heading.startswith(section) for heading in headings)
    }
    assert missing == {}


def test_docs_keep_the_contracts_tags_and_say_what_they_are() -> None:
    api, domain = API.read_text(), DOMAIN.read_text()
    assert "This file is the project's `CONTRACT.md`" in api
    assert "This file is the project's `DOMAIN.md`" in domain
    assert api.count("[seen]") > 10 and api.count("[assumed]") > 10
    assert [f"## {n}." in api for n in range(1, 8)] == [True] * 7
    assert [f"| G{n} |" in api for n in range(1, 13)] == [True] * 12


def test_readme_links_both_documents() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "](docs/api.md)" in readme and "](docs/domain.md)" in readme
