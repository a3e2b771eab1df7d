r"""Screenshots of the built site, taken in headless Chromium with the network blocked.

The issue asks for pictures of the home page and one lab page in both languages, with their
generated mermaid diagrams drawn — proof that the site renders its diagrams offline, from its
own mermaid bundle. ``nox -s docs`` runs this after the build:

    $ python docs/hooks/screenshots.py SITE_DIR [OUT_DIR]    # OUT_DIR: docs/screenshots/

Each page is loaded from disk (``file://``) by Debian's ``chromium`` with every connection
sent to a closed local port, given a virtual-time budget to run mermaid, and captured as a
PNG. The PNGs are git-ignored: CI keeps them as a build artifact. A small PNG reader (the
standard library only) lets the tests measure what was drawn: Material paints mermaid's
flowchart boxes in a pale tint of the theme's accent colour, which no other part of these
pages uses in bulk, so counting those pixels tells a drawn diagram from raw code.

    >>> [shot.name for shot in SHOTS]
    ['en-home', 'zh-home', 'en-lab-03', 'zh-lab-03']
    >>> SHOTS[3].page
    'zh/labs/03-clusterip-iptables-chains/index.html'
    >>> is_diagram_fill((238, 240, 255)), is_diagram_fill((245, 245, 245))
    (True, False)
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "screenshots"

#: Long enough for mermaid to load and lay out every diagram on a page (virtual time: the
#: browser fast-forwards timers, so a page that finishes early does not wait this long).
BUDGET_MS = 15_000


@dataclass(frozen=True, slots=True)
class Shot:
    """One page to capture: the PNG's name, the page under the site, the window size."""

    name: str
    page: str
    width: int = 1280
    height: int = 3000


LAB_03 = "labs/03-clusterip-iptables-chains/index.html"

#: The home page and lab 03 (ClusterIP through the iptables chains), in both languages;
#: each shows a generated trace diagram (the home page's is the demo's packet).
SHOTS = (
    Shot("en-home", "index.html"),
    Shot("zh-home", "zh/index.html"),
    Shot("en-lab-03", LAB_03),
    Shot("zh-lab-03", f"zh/{LAB_03}"),
)


def find_chromium() -> str | None:
    """The Chromium (or Chrome) on ``PATH``, or ``None``."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found is not None:
            return found
    return None


def chromium_argv(
    browser: str, url: str, profile: Path, *, size: tuple[int, int], action: Sequence[str]
) -> list[str]:
    """The command line that loads ``url`` offline and then does ``action``.

    ``action`` is ``("--dump-dom",)`` or ``(f"--screenshot={path}",)``.
    """
    width, height = size
    return [
        browser,
        "--headless",
        # Chromium refuses to start as root with its sandbox; CI and this lab run as root.
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        # A throwaway profile: runs in parallel do not share (or lock) one, none is left behind.
        f"--user-data-dir={profile}",
        # No network at all: every connection goes to a closed port and no name resolves, so
        # a diagram can only come from the site's own mermaid bundle.
        "--proxy-server=http://127.0.0.1:9",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--virtual-time-budget={BUDGET_MS}",
        f"--window-size={width},{height}",
        *action,
        url,
    ]


def run_chromium(browser: str, url: str, *, size: tuple[int, int], action: Sequence[str]) -> str:
    """Run Chromium once (fresh profile); its standard output. Fails loudly on an error."""
    with tempfile.TemporaryDirectory(prefix="ksl-chromium-") as profile:
        argv = chromium_argv(browser, url, Path(profile), size=size, action=action)
        done = subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr}")
    return done.stdout


def take(browser: str, site: Path, shot: Shot, out: Path) -> Path:
    """Capture one page of the built ``site`` as ``out/NAME.png``."""
    page = (site / shot.page).resolve()
    if not page.is_file():
        raise FileNotFoundError(f"{page}: not in the built site (build it first)")
    out.mkdir(parents=True, exist_ok=True)
    png = (out / f"{shot.name}.png").resolve()
    png.unlink(missing_ok=True)
    size = (shot.width, shot.height)
    run_chromium(browser, page.as_uri(), size=size, action=[f"--screenshot={png}"])
    if not png.is_file():
        raise RuntimeError(f"chromium wrote no {png}")
    return png


def take_all(browser: str, site: Path, out: Path = OUT) -> list[Path]:
    """Capture every page of :data:`SHOTS`; the PNGs' paths.

    In ``docs/screenshots/`` (ours alone) older pictures of pages no longer photographed
    are removed, so the set CI keeps is exactly this run's.
    """
    taken = [take(browser, site, shot, out) for shot in SHOTS]
    if out.resolve() == OUT.resolve():
        for stale in set(out.glob("*.png")) - set(taken):
            stale.unlink()
    return taken


# -- reading the pictures back ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Image:
    """A decoded 8-bit RGB(A) PNG: its size and its rows of ``(r, g, b)`` pixels."""

    width: int
    height: int
    rows: tuple[bytes, ...]
    channels: int

    def pixels(self) -> Iterator[tuple[int, int, int]]:
        step = self.channels
        for row in self.rows:
            for x in range(0, len(row), step):
                yield row[x], row[x + 1], row[x + 2]


def read_png(path: Path) -> Image:
    """Decode a non-interlaced 8-bit RGB or RGBA PNG (what Chromium writes)."""
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG")
    pos, idat, header = 8, bytearray(), b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    channels = {2: 3, 6: 4}.get(colour)
    if depth != 8 or channels is None or interlace:
        raise ValueError(f"{path}: only 8-bit RGB/RGBA without interlace is read here")
    return Image(width, height, _unfilter(zlib.decompress(idat), width, height, channels), channels)


def _unfilter(raw: bytes, width: int, height: int, bpp: int) -> tuple[bytes, ...]:
    # PNG's five per-row filters (RFC 2083 §6), undone row by row.
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up, corner = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line))
        prev = line
    return tuple(rows)


def is_diagram_fill(rgb: tuple[int, int, int]) -> bool:
    """A pale blue-violet: Material's mermaid node fill over the white page (light scheme).

    Code blocks are neutral grey and the header is a saturated indigo; neither passes.
    """
    r, g, b = rgb
    return b >= 245 and 215 <= r <= b - 8 and 215 <= g <= b - 6


def diagram_pixels(image: Image) -> int:
    """How many pixels of ``image`` are diagram-box fill."""
    return sum(1 for rgb in image.pixels() if is_diagram_fill(rgb))


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__.split("\n\n")[2] if __doc__ else "", file=sys.stderr)
        return 2
    browser = find_chromium()
    if browser is None:
        print("chromium not found (Debian: apt-get install chromium)", file=sys.stderr)
        return 1
    site = Path(argv[1])
    out = Path(argv[2]) if len(argv) > 2 else OUT
    for png in take_all(browser, site, out):
        image = read_png(png)
        print(
            f"{png}: {image.width}x{image.height}, {png.stat().st_size // 1024} KiB, "
            f"{diagram_pixels(image)} diagram pixels"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
