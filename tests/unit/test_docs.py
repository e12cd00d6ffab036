"""The docs point at things that exist: every repository path they name, every link's anchor;
the site in docs/ builds with `mkdocs build --strict`, and its configuration reference names
every setting with its default."""

from __future__ import annotations

import dataclasses
import math
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from markdown.extensions.toc import slugify

from consumer import config, settings

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "docs"
PAGES = sorted(SITE.glob("*.md"))
MARKDOWN = [*ROOT.glob("*.md"), *ROOT.glob("*/README.md"), *PAGES]
DOCS = [
    *MARKDOWN,
    ROOT / "mkdocs.yml",
    *(ROOT / "deploy").rglob("*.yaml"),
    *(ROOT / "deploy").rglob("*.yml"),
    *(ROOT / "deploy").rglob("*.sh"),
    *(ROOT / "deploy").rglob("*.tpl"),
    ROOT / "deploy" / "Dockerfile",
    ROOT / "Makefile",
    ROOT / "config.example.toml",
]
PATH = re.compile(
    r"(?<![\w./-])((?:deploy|devkit|docs|tests|bench|consumer|schemas)/[\w.*/-]*\w/?)"
)
# Made by a run or by the reader, never in the repository.
MADE = {"bench/results/", "deploy/k8s/overlays/prod", "deploy/k8s/overlays/prod/"}
LINK = re.compile(r"\]\(([^)\s]+)\)")


def headings(markdown: str) -> list[str]:
    """The text of each heading outside fenced code, in order."""
    found, fenced = [], False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and (heading := re.match(r"#{1,6} (.+)$", line)):
            found.append(heading.group(1))
    return found


def github_slug(heading: str) -> str:
    """GitHub's anchor: lower case, punctuation dropped, each space to '-'."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def mkdocs_slug(heading: str) -> str:
    """mkdocs' anchor (Python-Markdown's toc): the inline code marks go with the punctuation."""
    return str(slugify(heading, "-"))


def slugs(markdown: str, *, site: bool) -> set[str]:
    """A page's anchors, as mkdocs makes them (repeats `_1`, `_2`) or GitHub (`-1`, `-2`)."""
    found: dict[str, int] = {}
    for heading in headings(markdown):
        slug = mkdocs_slug(heading) if site else github_slug(heading)
        found[slug] = found.get(slug, -1) + 1
    mark = "_" if site else "-"
    return {
        s if n == 0 else f"{s}{mark}{n}" for s, count in found.items() for n in range(count + 1)
    }


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_repository_path_a_doc_names_exists(doc: Path) -> None:
    named = {m.group(1) for m in PATH.finditer(doc.read_text(encoding="utf-8"))} - MADE
    missing = sorted(p for p in named if not list(ROOT.glob(p.rstrip("/"))))
    assert missing == [], f"{doc.relative_to(ROOT)} names paths that do not exist"


@pytest.mark.parametrize("doc", MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_in_the_markdown_resolves(doc: Path) -> None:
    broken = []
    for target in LINK.findall(doc.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):
            continue  # a URL
        path, _, anchor = target.partition("#")
        linked = (doc.parent / path).resolve() if path else doc
        site = linked.parent == SITE
        if not linked.exists() or (
            anchor and anchor not in slugs(linked.read_text("utf-8"), site=site)
        ):
            broken.append(target)
    assert broken == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_a_site_page_links_only_to_other_pages(page: Path) -> None:
    """The site holds docs/ only: a relative link out of it is broken on the site."""
    outside = [
        target
        for target in LINK.findall(page.read_text(encoding="utf-8"))
        if not re.match(r"[a-z]+:", target)
        and (path := target.partition("#")[0])
        and (page.parent / path).resolve().parent != SITE
    ]
    assert outside == [], "name repository files as `path`, not as links"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_a_site_page_has_the_same_anchors_on_github_and_on_the_site(page: Path) -> None:
    """So a link into docs/ works from the README on GitHub as well as on the site; no heading
    repeats (the two number repeats differently)."""
    found = headings(page.read_text(encoding="utf-8"))
    assert [mkdocs_slug(h) for h in found] == [github_slug(h) for h in found]
    assert len(set(found)) == len(found)


def test_the_nav_lists_every_page_and_only_pages_that_exist() -> None:
    site = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    assert site["docs_dir"] == "docs"
    listed = [page for entry in site["nav"] for page in entry.values()]
    assert sorted(listed) == sorted(p.name for p in PAGES)


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    """`mkdocs build --strict`: a link to a missing page or anchor, or a page missing from the
    nav, is a warning, and a warning fails the build."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    where = ["--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")]
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", *where],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    assert (tmp_path / "site" / "configuration" / "index.html").exists()


# The tables of docs/configuration.md, by heading, and the settings type each documents.
TABLES: dict[str, type[Any]] = {
    "`[kafka]`": settings.KafkaSettings,
    "`[schema_registry]` (optional)": settings.RegistrySettings,
    "`[delivery]`": settings.DeliverySettings,
    "`[metrics]`": settings.MetricsSettings,
    "`[logging]`": settings.LoggingSettings,
    "`[[destinations]]`": config.DestinationTable,
    "Batch mode: `[destinations.batch]`": settings.BatchSettings,
    "`[[destinations.mappings]]`": config.MappingTable,
}


def documented_options() -> dict[str, dict[str, str]]:
    """{heading: {option: its default cell}} from the tables of docs/configuration.md; a row
    such as `a` / `b` with `x` / `y` documents two options."""
    tables: dict[str, dict[str, str]] = {}
    rows: dict[str, str] = {}
    for line in (SITE / "configuration.md").read_text(encoding="utf-8").splitlines():
        if heading := re.match(r"#+ (.+)$", line):
            rows = tables.setdefault(heading.group(1), {})
        elif row := re.match(r"\| (`[^|]+`) \|([^|]*)\|", line):
            names = re.findall(r"`(\w+)`", row.group(1))
            defaults = row.group(2).split(" / ")
            for i, name in enumerate(names):
                rows[name] = defaults[i if len(defaults) == len(names) else 0].strip()
    return tables


def test_the_configuration_reference_names_every_setting_with_its_default() -> None:
    tables = documented_options()
    wrong = []
    for heading, kind in TABLES.items():
        rows = tables.get(heading, {})
        for spec in dataclasses.fields(kind):
            if spec.name not in rows:
                wrong.append(f"{heading} {spec.name}: not documented")
                continue
            default, cell = spec.default, rows[spec.name]
            literal = re.match(r"`([^`]+)`", cell)
            if literal is None or type(default) not in (int, float, bool, str):
                continue  # "required", "off", "the default preset": said in words
            if spec.metadata.get("duration"):
                seconds = config.parse_duration(literal.group(1).strip('"'), "")
                same = isinstance(default, int | float) and math.isclose(seconds, default)
            else:
                same = tomllib.loads(f"v = {literal.group(1)}")["v"] == default
            if not same:
                wrong.append(f"{heading} {spec.name}: documented {cell}, default {default!r}")
    assert wrong == []


@pytest.mark.parametrize("doc", MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_make_target_a_doc_names_exists(doc: Path) -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z-]+):", makefile, re.M))
    named = set(re.findall(r"`make ([a-z-]+)", doc.read_text(encoding="utf-8")))
    assert sorted(named - targets) == []


def test_the_readme_stays_short() -> None:
    """What it is, how to start, and links: the reference lives on the site."""
    assert (ROOT / "README.md").stat().st_size < 12_000
