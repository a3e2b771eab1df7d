"""The docs site: both languages complete, includes resolvable, and (where tools exist) built.

``nox -s docs`` is the real gate (a strict build with the mermaid bundle fetched from npm);
these tests catch the common mistakes without it — a page missing in one language, an
untranslated nav title, a snippet that points nowhere — and, when mkdocs and Chromium are
installed, build the site and check in a browser that the diagrams render as SVG.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
LANGUAGES = ("en", "zh")
INCLUDE = re.compile(r'^\s*--8<-- "([^"]+)"\s*$', re.MULTILINE)


class _Loader(yaml.SafeLoader):
    """mkdocs.yml names Python objects (``!!python/name:``); read them as plain strings."""


_Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: suffix)


def _config() -> dict[str, Any]:
    loaded = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=_Loader)
    assert isinstance(loaded, dict)
    return loaded


def _nav_items(nav: list[Any]) -> Iterator[tuple[str, str | None]]:
    """(title, page or None for a section) for every entry of the nav, depth first."""
    for entry in nav:
        for title, value in entry.items():
            if isinstance(value, list):
                yield title, None
                yield from _nav_items(value)
            else:
                yield title, value


def _i18n() -> dict[str, Any]:
    for plugin in _config()["plugins"]:
        if isinstance(plugin, dict) and "i18n" in plugin:
            return dict(plugin["i18n"])
    raise AssertionError("mkdocs.yml has no i18n plugin")


NAV = list(_nav_items(_config()["nav"]))
PAGES = [page for _, page in NAV if page is not None]


def test_languages_are_english_and_simplified_chinese() -> None:
    i18n = _i18n()
    assert i18n["docs_structure"] == "folder"
    locales = [lang["locale"] for lang in i18n["languages"]]
    assert locales == list(LANGUAGES)
    assert i18n["languages"][0]["default"] is True


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("page", PAGES)
def test_every_nav_page_exists_in_both_languages(lang: str, page: str) -> None:
    assert (DOCS / lang / page).is_file(), f"docs/{lang}/{page} is missing"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_page_is_left_out_of_the_nav(lang: str) -> None:
    on_disk = {p.relative_to(DOCS / lang).as_posix() for p in (DOCS / lang).rglob("*.md")}
    assert on_disk == set(PAGES)


def test_every_nav_title_is_translated() -> None:
    zh = next(lang for lang in _i18n()["languages"] if lang["locale"] == "zh")
    translations = zh["nav_translations"]
    missing = [title for title, _ in NAV if title not in translations]
    assert not missing


@pytest.mark.parametrize("page", PAGES)
def test_chinese_page_is_written_in_chinese(page: str) -> None:
    text = (DOCS / "zh" / page).read_text()
    prose = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    han = sum(1 for ch in prose if "\u4e00" <= ch <= "\u9fff")
    assert han > 60, f"docs/zh/{page} has little Chinese text ({han} characters)"


@pytest.mark.parametrize("page", PAGES)
def test_both_languages_include_the_same_snippets(page: str) -> None:
    # The code and generated output are shared; only the prose is translated — and a lab
    # page includes its lab's README in the page's own language (README.zh.md for zh).
    en, zh = (INCLUDE.findall((DOCS / lang / page).read_text()) for lang in LANGUAGES)
    assert en == [t.replace("/README.zh.md", "/README.md") for t in zh]


@pytest.mark.parametrize("page", [p for p in PAGES if p.startswith("concepts/")])
@pytest.mark.parametrize("lang", LANGUAGES)
def test_concept_pages_ask_for_a_prediction(page: str, lang: str) -> None:
    text = (DOCS / lang / page).read_text()
    assert '!!! question "' in text
    assert "??? success" in text, "the answer is folded away, to be opened after predicting"


def _generated_sources() -> set[str]:
    """Every file docs/hooks/generate.py writes, relative to the repository root."""
    out = {"docs/generated/cli.md"}
    for path in (DOCS / "examples").glob("sessions/*.sh"):
        suffix = ".mmd" if "-o mermaid" in path.read_text() else ".txt"
        out.add(f"docs/generated/sessions/{path.stem}{suffix}")
    for path in (DOCS / "examples").glob("*.py"):
        out.add(f"docs/generated/examples/{path.stem}.out")
    return out


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_include_names_an_example_or_a_generated_file(lang: str) -> None:
    generated = _generated_sources()
    for page in PAGES:
        for target in INCLUDE.findall((DOCS / lang / page).read_text()):
            path, _, section = target.partition(":")
            if path.startswith("docs/generated/"):
                assert path in generated, f"{page}: nothing generates {path}"
            elif path.startswith("labs/"):
                readme = "README.zh.md" if lang == "zh" else "README.md"
                assert re.fullmatch(rf"labs/\d\d-[a-z0-9-]+/{re.escape(readme)}", path), path
                assert (ROOT / path).is_file(), f"{page}: {path} is missing"
            else:
                assert path.startswith("docs/examples/"), f"{page}: {path} is not an example"
                source = (ROOT / path).read_text()
                assert (ROOT / path).is_file()
                if section:
                    assert f"--8<-- [start:{section}]" in source, f"{path} has no {section}"


def test_mermaid_fences_hold_generated_diagrams_only() -> None:
    # A diagram drawn by hand would drift from the code; every one comes from a trace.
    for lang in LANGUAGES:
        for page in PAGES:
            text = (DOCS / lang / page).read_text()
            for block in re.findall(r"```mermaid\n(.*?)```", text, flags=re.DOTALL):
                assert INCLUDE.fullmatch(block.strip()), f"{lang}/{page}: hand-drawn diagram"


# -- building the site (skipped where mkdocs is not installed) -------------------------------


def _mkdocs_python() -> str | None:
    if importlib.util.find_spec("mkdocs") is not None:
        return sys.executable
    return None


@pytest.fixture(scope="module")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    python = _mkdocs_python()
    if python is None:
        pytest.skip("mkdocs is not installed here: `nox -s docs` builds the site")
    if not (DOCS / "assets" / "javascripts" / "mermaid.min.js").is_file():
        pytest.skip("no mermaid bundle: run `python docs/hooks/fetch_mermaid.py` (nox -s docs)")
    site = tmp_path_factory.mktemp("site")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [python, "-m", "mkdocs", "build", "--strict", "-d", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return site


@pytest.mark.parametrize("lang", LANGUAGES)
def test_strict_build_has_every_page(built_site: Path, lang: str) -> None:
    base = built_site if lang == "en" else built_site / lang
    for page in PAGES:
        html = base / page.removesuffix(".md").removesuffix("index") / "index.html"
        assert html.is_file(), html


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found is not None:
            return found
    return None


@pytest.mark.parametrize("lang", LANGUAGES)
def test_trace_diagram_renders_in_a_browser_offline(built_site: Path, lang: str) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium)")
    page = (built_site if lang == "en" else built_site / lang) / "concepts/tracing/index.html"
    assert page.read_text().count('<pre class="mermaid">') == 1
    done = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            # No network at all: the diagram must come from the site's own mermaid bundle.
            "--proxy-server=http://127.0.0.1:9",
            "--virtual-time-budget=15000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    dom = done.stdout
    # Material swaps each <pre class="mermaid"> for a <div class="mermaid"> only once
    # mermaid.render() has returned the SVG (which it puts in the div's shadow root).
    assert '<pre class="mermaid">' not in dom
    assert '<div class="mermaid"></div>' in dom
