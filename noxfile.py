"""Developer sessions for k8s-service-lab, one per test environment.

Run ``nox`` for the default sessions (lint, typecheck, tests) — this is what CI runs — or
``nox -s NAME`` for one of them. ``nox -l`` lists every session with its docstring.
"""

from __future__ import annotations

import os
import shutil

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["lint", "typecheck", "tests", "docs"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"
SOURCES = ["k8s_service_lab", "tests", "bench", "docs/hooks", "labs", "noxfile.py"]


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Lint and format check with ruff (changes nothing; run ``ruff format`` yourself)."""
    session.install("ruff>=0.5")
    session.run("ruff", "check", *SOURCES)
    session.run("ruff", "format", "--check", *SOURCES)


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """Type-check the package with ``mypy --strict``."""
    session.install("-e", ".[dev]")
    session.run("mypy", "--strict", "k8s_service_lab")
    hooks = ["generate.py", "fetch_mermaid.py", "excerpts.py", "screenshots.py"]
    session.run("mypy", "--strict", *(f"docs/hooks/{name}" for name in hooks))


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Unit, golden, flow and docs tiers always; the kernel tier when root and the tools exist.

    Kernel tests skip with a reason on a machine without root or iproute2/iptables/nftables/
    conntrack — except under ``CI=true``, where a skipped kernel test fails the run.
    Extra arguments go to pytest: ``nox -s tests -- -k selector``.
    """
    session.install("-e", ".[dev]")
    session.run("pytest", "-m", "not kind", *session.posargs, env=_ci_env())


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Performance budgets (DESIGN §9): ``pytest bench/ --benchmark-only``, figures as tables."""
    session.install("-e", ".[dev]")
    session.run(
        "pytest",
        "bench",
        "--benchmark-only",
        "--benchmark-columns=min,median,mean,max,rounds",
        "-p",
        "no:cacheprovider",
        *session.posargs,
    )


@nox.session(python=PYTHON)
def kind(session: nox.Session) -> None:
    """The kind tier: the labs against a real kind cluster (needs Docker, kind and kubectl)."""
    session.install("-e", ".[dev,kind]")
    session.run("pytest", "-m", "kind", *session.posargs)


def _ci_env() -> dict[str, str]:
    # Pass CI through explicitly: the kernel tier's "no skips in CI" rule keys on it.
    return {"CI": os.environ.get("CI", "")}


@nox.session(python=PYTHON)
def golden(session: nox.Session) -> None:
    """Regenerate the golden rule dumps in ``tests/golden/`` (never edit them by hand).

    Runs ``tests/golden/generate.py``; review the diff, then commit it with the change that
    caused it. ``tests/unit/test_iptables_golden.py`` fails whenever the files are stale.
    """
    session.install("-e", ".[dev]")
    session.run("python", "-m", "tests.golden.generate")
    session.run("python", "-m", "tests.golden.generate_nftables")


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the docs site (English and Simplified Chinese) with ``mkdocs build --strict``.

    Fetches the pinned mermaid bundle from the npm registry first (needs node's ``npm``), so
    the site draws its diagrams offline; the build regenerates every listing and diagram
    from the library (docs/README.md). Then headless Chromium photographs the home page and
    lab 03 in both languages into ``docs/screenshots/`` (git-ignored; CI keeps them), and
    the site tests check those pictures and that every diagram renders as SVG. Without
    Chromium the pictures are skipped, except under ``CI=true``. Extra arguments go to
    mkdocs: ``nox -s docs -- -d DIR``.
    """
    session.install("-e", ".[docs]", "pytest>=8.0")
    session.run("python", "docs/hooks/fetch_mermaid.py")
    session.run("mkdocs", "build", "--strict", *session.posargs, env={"NO_MKDOCS_2_WARNING": "1"})
    env = _ci_env()
    if shutil.which("chromium") is not None:
        session.run("python", "docs/hooks/screenshots.py", _site_dir(session.posargs))
        # The site tests check these very files (the ones CI keeps), not a second set.
        env["KSL_SCREENSHOTS"] = "docs/screenshots"
    elif env["CI"] == "true":
        session.error("chromium is missing: CI photographs the site (apt-get install chromium)")
    else:
        session.warn("chromium not found: no screenshots (Debian: apt-get install chromium)")
    # The site tests that need mkdocs (and, when installed, Chromium: diagrams render as SVG).
    session.run("pytest", "tests/docs/test_docs_site.py", "-p", "no:cacheprovider", env=env)


def _site_dir(mkdocs_args: list[str]) -> str:
    # Where `mkdocs build` wrote the site: its -d/--site-dir argument, else mkdocs.yml's default.
    for i, arg in enumerate(mkdocs_args):
        if arg in ("-d", "--site-dir") and i + 1 < len(mkdocs_args):
            return mkdocs_args[i + 1]
        if arg.startswith("--site-dir="):
            return arg.split("=", 1)[1]
    return "site"
