"""The docs site: both languages complete, includes resolvable, and (where tools exist) built.

``nox -s docs`` is the real gate (a strict build with the mermaid bundle fetched from npm);
these tests catch the common mistakes without it — a page missing in one language, an
untranslated nav title, a snippet that points nowhere — and, when mkdocs and Chromium are
installed, build the site and check in a browser that the diagrams render as SVG — on the
pages ``docs/hooks/screenshots.py`` photographs, in the pictures themselves too.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
LANGUAGES = ("en", "zh")
INCLUDE = re.compile(r'^\s*--8<-- "([^"]+)"\s*$', re.MULTILINE)
MERMAID = re.compile(r"```mermaid\n(.*?)```", re.DOTALL)


def _load_hook(name: str) -> ModuleType:
    # docs/hooks/ is not a package: mkdocs loads its modules by path, and so do the tests.
    spec = importlib.util.spec_from_file_location(
        f"docs_hooks_{name}", DOCS / "hooks" / f"{name}.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being made
    spec.loader.exec_module(module)
    return module


screenshots = _load_hook("screenshots")


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


def _page_with_labs(lang: str, page: str) -> str:
    """A page's text with the lab READMEs it includes pasted in, as the build sees it."""
    text = (DOCS / lang / page).read_text()
    return INCLUDE.sub(
        lambda m: (ROOT / m[1]).read_text() if m[1].startswith("labs/") else m[0], text
    )


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_include_names_an_example_or_a_generated_file(lang: str) -> None:
    generated = _generated_sources()
    for page in PAGES:
        for target in INCLUDE.findall((DOCS / lang / page).read_text()):
            path, _, section = target.partition(":")
            if path.startswith("labs/"):
                readme = "README.zh.md" if lang == "zh" else "README.md"
                assert re.fullmatch(rf"labs/\d\d-[a-z0-9-]+/{re.escape(readme)}", path), path
                assert (ROOT / path).is_file(), f"{page}: {path} is missing"
        # Lab READMEs may include generated diagrams of their own (lab 03 does).
        for target in INCLUDE.findall(_page_with_labs(lang, page)):
            path, _, section = target.partition(":")
            if path.startswith("docs/generated/"):
                assert path in generated, f"{page}: nothing generates {path}"
            elif not path.startswith("labs/"):
                assert path.startswith("docs/examples/"), f"{page}: {path} is not an example"
                source = (ROOT / path).read_text()
                if section:
                    assert f"--8<-- [start:{section}]" in source, f"{path} has no {section}"


def test_mermaid_fences_hold_generated_diagrams_only() -> None:
    # A diagram drawn by hand would drift from the code; every one comes from a trace.
    for lang in LANGUAGES:
        for page in PAGES:
            for block in MERMAID.findall(_page_with_labs(lang, page)):
                assert INCLUDE.fullmatch(block.strip()), f"{lang}/{page}: hand-drawn diagram"
                assert block.strip().endswith('.mmd"'), f"{lang}/{page}: not a trace diagram"


def _source_of(built: str) -> tuple[str, str]:
    """The language and nav page a built page comes from (``zh/labs/x/index.html``)."""
    lang, page = ("zh", built.removeprefix("zh/")) if built.startswith("zh/") else ("en", built)
    return lang, "index.md" if page == "index.html" else page.removesuffix("/index.html") + ".md"


@pytest.mark.parametrize("shot", screenshots.SHOTS, ids=lambda shot: shot.name)
def test_every_photographed_page_has_a_generated_diagram(shot: Any) -> None:
    # The pictures exist to show a diagram drawn: a page without one would prove nothing.
    lang, page = _source_of(shot.page)
    assert page in PAGES
    assert MERMAID.search(_page_with_labs(lang, page)), f"docs/{lang}/{page} draws nothing"


def test_nftables_tab_shows_a_generated_listing_and_trace() -> None:
    # Both languages include the same snippets (tested above), so English stands for both.
    text = (DOCS / "en" / "concepts" / "proxy-modes.md").read_text()
    nftables = text.split('=== "nftables"')[1].split('=== "IPVS"')[0]
    assert '--8<-- "docs/generated/sessions/render-web-nftables.txt"' in nftables
    assert '--8<-- "docs/generated/sessions/trace-web-nftables-mermaid.mmd"' in nftables
    iptables = text.split('=== "iptables"')[1].split('=== "nftables"')[0]
    assert '--8<-- "docs/generated/sessions/trace-web-mermaid.mmd"' in iptables


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


def _browser() -> str:
    browser = screenshots.find_chromium()
    if browser is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium)")
    assert isinstance(browser, str)
    return browser


def _rendered_dom(site: Path, page: str) -> str:
    """The page's DOM once its scripts have run, loaded offline in headless Chromium."""
    url = (site / page).as_uri()
    dom = screenshots.run_chromium(_browser(), url, size=(1280, 3000), action=["--dump-dom"])
    assert isinstance(dom, str)
    return dom


def _assert_every_diagram_rendered(site: Path, page: str) -> None:
    diagrams = (site / page).read_text().count('<pre class="mermaid">')
    assert diagrams >= 1, f"{page} has no diagram to render"
    dom = _rendered_dom(site, page)
    # Material swaps each <pre class="mermaid"> for a <div class="mermaid"> only once
    # mermaid.render() has returned the SVG (which it puts in the div's closed shadow root);
    # a diagram that fails to parse, or a missing bundle, leaves the <pre> (or the raw code).
    assert '<pre class="mermaid">' not in dom
    assert dom.count('<div class="mermaid"></div>') == diagrams


@pytest.mark.parametrize(
    "page",
    [
        "concepts/tracing/index.html",
        "zh/concepts/tracing/index.html",
        "concepts/proxy-modes/index.html",
        "zh/concepts/proxy-modes/index.html",
    ],
)
def test_concept_diagrams_render_in_a_browser_offline(built_site: Path, page: str) -> None:
    _assert_every_diagram_rendered(built_site, page)


@pytest.mark.parametrize("shot", screenshots.SHOTS, ids=lambda shot: shot.name)
def test_photographed_page_renders_its_diagram_as_svg(built_site: Path, shot: Any) -> None:
    _assert_every_diagram_rendered(built_site, shot.page)


@pytest.fixture(scope="module")
def pictures(built_site: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The screenshots: the docs session's own (``KSL_SCREENSHOTS``), else taken here."""
    made = os.environ.get("KSL_SCREENSHOTS")
    if made:
        return {shot.name: ROOT / made / f"{shot.name}.png" for shot in screenshots.SHOTS}
    out = tmp_path_factory.mktemp("screenshots")
    paths = screenshots.take_all(_browser(), built_site, out)
    return {path.stem: path for path in paths}


@pytest.mark.parametrize("shot", screenshots.SHOTS, ids=lambda shot: shot.name)
def test_screenshot_shows_the_page_with_its_diagram_drawn(
    pictures: dict[str, Path], shot: Any
) -> None:
    png = pictures[shot.name]
    assert png.is_file(), f"{png} is missing: python docs/hooks/screenshots.py SITE_DIR"
    assert png.stat().st_size > 50_000, "a near-empty picture (blank page?)"
    image = screenshots.read_png(png)
    assert (image.width, image.height) == (shot.width, shot.height)
    colours = set(image.pixels())
    assert len(colours) > 100, "a page of text and a diagram has many shades"
    # The flowchart's boxes: tens of thousands of pixels of Material's pale node fill. The
    # raw mermaid source (a diagram that did not render) has none: measured at 240 for lab 03
    # with an empty bundle, against about 290,000 when drawn.
    assert screenshots.diagram_pixels(image) > 20_000


def _png(rows: list[bytes], width: int, filters: list[int]) -> bytes:
    """A minimal RGB PNG with the given per-row filters (a test vector for the reader)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    raw = bytearray()
    prev = bytes(len(rows[0]))
    for row, kind in zip(rows, filters, strict=True):
        out = bytearray()
        for i, value in enumerate(row):
            left = row[i - 3] if i >= 3 else 0
            up, corner = prev[i], prev[i - 3] if i >= 3 else 0
            p = left + up - corner
            paeth = min(
                (abs(p - left), 0, left), (abs(p - up), 1, up), (abs(p - corner), 2, corner)
            )[2]
            pred = [0, left, up, (left + up) // 2, paeth][kind]
            out.append((value - pred) & 0xFF)
        raw += bytes([kind]) + out
        prev = row
    header = struct.pack(">IIBBBBB", width, len(rows), 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(raw)))
        + chunk(b"IEND", b"")
    )


def test_png_reader_undoes_every_filter(tmp_path: Path) -> None:
    rows = [
        bytes((x * 37 + y * 91 + c * 13) % 256 for x in range(4) for c in range(3))
        for y in range(5)
    ]
    path = tmp_path / "t.png"
    path.write_bytes(_png(rows, 4, [0, 1, 2, 3, 4]))
    image = screenshots.read_png(path)
    assert (image.width, image.height, image.rows) == (4, 5, tuple(rows))
    assert screenshots.diagram_pixels(image) == sum(
        1
        for row in rows
        for i in range(0, 12, 3)
        if screenshots.is_diagram_fill(tuple(row[i : i + 3]))
    )
