"""The docs a newcomer walks: every relative link resolves, and what they list comes from code."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from extractors.registry import EXTRACTORS
from tests.test_extractor_recipe import LinkCountExtractor

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^\s*```.*?^\s*```", re.S | re.M)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return {slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, re.M)}


def relative_links(path: Path) -> list[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return [t for t in LINK.findall(text) if not re.match(r"^[a-z][a-z0-9+.-]*:", t)]


def test_every_relative_link_resolves() -> None:
    # Given the README and every page under docs/
    assert len(DOCS) > 10
    broken = []
    for page in DOCS:
        for target in relative_links(page):
            # When a relative link is followed, Then the file (and its heading) exists
            file_part, _, fragment = target.partition("#")
            resolved = (page.parent / file_part).resolve() if file_part else page
            if not resolved.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such file)")
            elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


def test_the_link_checker_sees_a_broken_link(tmp_path: Path) -> None:
    # Given a page linking to a missing file and a missing heading
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n[a](missing.md) [b](#nope) [c](#title) [d](https://x.org)\n")
    # Then both are found, and the good ones are not
    assert relative_links(page) == ["missing.md", "#nope", "#title"]
    assert anchors(page) == {"title"}


def test_the_capture_docs_list_the_registered_extractors() -> None:
    # Given the registry, When the docs' table is built from it
    table = EXTRACTORS.markdown()
    # Then docs/capture.md holds exactly that table (paste it there when this fails)
    assert table in (ROOT / "docs" / "capture.md").read_text(encoding="utf-8"), table


def test_the_contributing_recipe_is_the_code_its_test_runs() -> None:
    # Given the throwaway extractor tests/test_extractor_recipe.py registers
    source = inspect.getsource(LinkCountExtractor)
    recipe = (ROOT / "docs" / "contributing.md").read_text(encoding="utf-8")
    # Then docs/contributing.md shows that very class (indented in its list item)
    indented = "\n".join(("   " + line) if line else "" for line in source.rstrip().split("\n"))
    assert indented in recipe
