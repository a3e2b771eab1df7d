"""Fetch the pinned mermaid bundle from the npm registry, so the site draws diagrams offline.

Material for MkDocs renders ``pre.mermaid`` blocks with the page's global ``mermaid`` object
when one is loaded, and otherwise fetches mermaid from a CDN at view time — which fails
offline. ``mkdocs.yml`` therefore loads ``assets/javascripts/mermaid.min.js`` through
``extra_javascript``, and this script puts the file there. It is third-party code: it is
fetched at build time (``nox -s docs`` runs this script) and git-ignored, never committed.

    $ python docs/hooks/fetch_mermaid.py      # needs node's npm and the registry

``npm pack`` downloads the published tarball and checks it against the registry's integrity
hash; the bundle is ``package/dist/mermaid.min.js`` inside it. A small ``.version`` file next
to the bundle records the version, so a rebuild fetches again only when the pin changes:

    >>> bundle_path(Path("docs")).as_posix()
    'docs/assets/javascripts/mermaid.min.js'
    >>> MERMAID_VERSION.split(".")[0]
    '11'
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

#: Material 9.x is written against mermaid 11 (its CDN fallback asks for ``mermaid@11``).
MERMAID_VERSION = "11.17.2"

#: Where the bundle lives inside the npm tarball.
_MEMBER = "package/dist/mermaid.min.js"


def bundle_path(docs_dir: Path) -> Path:
    """Where ``mkdocs.yml``'s ``extra_javascript`` expects the bundle."""
    return docs_dir / "assets" / "javascripts" / "mermaid.min.js"


def installed_version(docs_dir: Path) -> str | None:
    """The version of the bundle in place, or ``None`` when there is none."""
    bundle = bundle_path(docs_dir)
    marker = bundle.with_suffix(".version")
    if not bundle.is_file() or not marker.is_file():
        return None
    return marker.read_text().strip() or None


def fetch(docs_dir: Path, version: str = MERMAID_VERSION) -> Path:
    """Put ``mermaid@version``'s ``mermaid.min.js`` under ``docs_dir``; returns its path."""
    bundle = bundle_path(docs_dir)
    if installed_version(docs_dir) == version:
        return bundle
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm not found: install Node.js (Debian: apt-get install npm)")
    with tempfile.TemporaryDirectory(prefix="ksl-mermaid-") as tmp:
        done = subprocess.run(
            [npm, "pack", f"mermaid@{version}", "--pack-destination", tmp, "--silent"],
            check=False,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise SystemExit(f"npm pack mermaid@{version} failed:\n{done.stderr}")
        tarballs = list(Path(tmp).glob("mermaid-*.tgz"))
        if len(tarballs) != 1:
            raise SystemExit(f"npm pack left {len(tarballs)} tarballs in {tmp}")
        with tarfile.open(tarballs[0]) as tar:
            member = tar.extractfile(_MEMBER)
            if member is None:
                raise SystemExit(f"{tarballs[0].name} has no {_MEMBER}")
            data = member.read()
    bundle.parent.mkdir(parents=True, exist_ok=True)
    bundle.write_bytes(data)
    bundle.with_suffix(".version").write_text(version + "\n")
    return bundle


def main(argv: list[str]) -> int:
    docs_dir = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent
    bundle = fetch(docs_dir)
    print(f"mermaid {MERMAID_VERSION}: {bundle} ({bundle.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
