"""The docs point at things that exist: every repository path they name, every link's anchor."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [
    *ROOT.glob("*.md"),
    *ROOT.glob("*/README.md"),
    *(ROOT / "deploy").rglob("*.yaml"),
    *(ROOT / "deploy").rglob("*.yml"),
    *(ROOT / "deploy").rglob("*.sh"),
    *(ROOT / "deploy").rglob("*.tpl"),
    ROOT / "deploy" / "Dockerfile",
    ROOT / "Makefile",
    ROOT / "config.example.toml",
]
PATH = re.compile(r"(?<![\w./-])((?:deploy|tests|bench|consumer|schemas)/[\w.*/-]*\w/?)")
# Made by a run or by the reader, never in the repository.
MADE = {"bench/results/", "deploy/k8s/overlays/prod", "deploy/k8s/overlays/prod/"}
LINK = re.compile(r"\]\(([^)\s]+)\)")


def slugs(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to '-', repeats -1, -2."""
    found: dict[str, int] = {}
    fenced = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (heading := re.match(r"#{1,6} (.+)$", line)):
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).lower()).replace(" ", "-")
            found[slug] = found.get(slug, -1) + 1
    return {s if n == 0 else f"{s}-{n}" for s, count in found.items() for n in range(count + 1)}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_repository_path_a_doc_names_exists(doc: Path) -> None:
    named = {m.group(1) for m in PATH.finditer(doc.read_text(encoding="utf-8"))} - MADE
    missing = sorted(p for p in named if not list(ROOT.glob(p.rstrip("/"))))
    assert missing == [], f"{doc.relative_to(ROOT)} names paths that do not exist"


@pytest.mark.parametrize("doc", [*ROOT.glob("*.md"), *ROOT.glob("*/README.md")], ids=str)
def test_every_link_in_the_markdown_resolves(doc: Path) -> None:
    broken = []
    for target in LINK.findall(doc.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):
            continue  # a URL
        path, _, anchor = target.partition("#")
        linked = (doc.parent / path) if path else doc
        if not linked.exists() or (anchor and anchor not in slugs(linked.read_text("utf-8"))):
            broken.append(target)
    assert broken == []


def test_the_readme_has_a_table_of_contents_of_its_sections() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    contents = readme[readme.index("## Contents") : readme.index("## Quick start")]
    sections = re.findall(r"^## (.+)$", readme, re.M)
    listed = re.findall(r"^- \[(.+?)\]\(#", contents, re.M)
    assert listed == [s for s in sections if s != "Contents"]
