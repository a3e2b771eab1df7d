r"""Build-time content for the docs site: every listing and diagram comes from the library.

Pages never hold hand-drawn diagrams or pasted rule listings — those drift the day the code
changes. Instead this mkdocs hook (``hooks:`` in ``mkdocs.yml``) runs the real ``ksl``
commands and examples before every build and writes their output under ``docs/generated/``
(git-ignored); pages include it with ``pymdownx.snippets`` (``--8<-- "docs/generated/…"``),
whose ``check_paths`` turns a missing file into a build error. It also runs by hand:

    $ python docs/hooks/generate.py            # writes docs/generated/, prints what changed

What it reads and writes:

- ``docs/examples/sessions/NAME.sh`` — one ``ksl`` command (and ``#`` comments). It runs
  in-process on a fresh embedded cluster; ``generated/sessions/NAME.txt`` gets
  ``$ <command>`` and what it printed. A command with ``-o mermaid`` writes
  ``NAME.mmd``, the bare flowchart, for a ```` ```mermaid ```` fence. A comment
  ``# excerpt: TEXT`` keeps only the rules that mention TEXT, with their tables and chain
  declarations (one Service's chains out of a whole ``ksl render``); for ``nft`` text
  (``--mode nftables``) it keeps the chains whose names hold TEXT, their map and set
  elements and the rules that dispatch to them (``docs/hooks/excerpts.py``).
- ``docs/examples/*.py`` — run as scripts; ``generated/examples/NAME.out`` is what they print.
- the typer app — ``generated/cli.md``, one section per command, from its help and options.

A command that fails stops the build (the page would otherwise show an error as if it were
the answer). Files are rewritten only when their text changes, so ``mkdocs serve`` does not
rebuild in a loop.

    >>> s = parse_session("# comment\n# excerpt: default/web:\nksl render -f web.yaml\n")
    >>> s.argv, s.excerpt
    (('render', '-f', 'web.yaml'), 'default/web:')
    >>> a, b = "KUBE-SVC-" + "A" * 16, "KUBE-SVC-" + "B" * 16
    >>> rule = f"-A {a} -m comment --comment x/a -j DROP"
    >>> text = f"*nat\n:{a} - [0:0]\n:{b} - [0:0]\n{rule}\nCOMMIT\n"
    >>> print(excerpt(text, "x/a"), end="")
    *nat
    :KUBE-SVC-AAAAAAAAAAAAAAAA - [0:0]
    -A KUBE-SVC-AAAAAAAAAAAAAAAA -m comment --comment x/a -j DROP
    COMMIT
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import runpy
import shlex
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("mkdocs.hooks.generate")

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"
OUT = DOCS / "generated"


@dataclass(frozen=True, slots=True)
class Session:
    """One documented ``ksl`` command: the words after ``ksl``, and an optional excerpt."""

    command: str
    argv: tuple[str, ...]
    excerpt: str | None = None

    @property
    def mermaid(self) -> bool:
        return _option(self.argv, "-o", "--output") == "mermaid"


def _option(argv: tuple[str, ...], *names: str) -> str | None:
    for i, word in enumerate(argv[:-1]):
        if word in names:
            return argv[i + 1]
    return None


def parse_session(text: str, source: str = "<session>") -> Session:
    """Read a session file: ``#`` comments (``# excerpt: TEXT``) and one ``ksl`` command."""
    commands: list[str] = []
    wanted: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("# excerpt:"):
            wanted = stripped.removeprefix("# excerpt:").strip()
        elif stripped and not stripped.startswith("#"):
            commands.append(stripped)
    if len(commands) != 1 or not commands[0].startswith("ksl "):
        raise ValueError(f"{source}: a session holds exactly one 'ksl …' command line")
    words = shlex.split(commands[0])
    return Session(commands[0], tuple(words[1:]), wanted)


def excerpt(text: str, wanted: str) -> str:
    """The part of a ``ksl render`` listing about one thing (``docs/hooks/excerpts.py``)."""
    with _hooks_importable():
        from excerpts import excerpt as cut
    return cut(text, wanted)


@contextlib.contextmanager
def _hooks_importable() -> Iterator[None]:
    # mkdocs loads a hook by its path, not as a package: make its siblings importable for
    # the import only, leaving sys.path as it was.
    here = str(Path(__file__).resolve().parent)
    sys.path.insert(0, here)
    try:
        yield
    finally:
        sys.path.remove(here)


@contextlib.contextmanager
def _at_root() -> Iterator[None]:
    # Sessions name files relative to the repository root, as a reader types them there.
    before = Path.cwd()
    os.chdir(ROOT)
    try:
        yield
    finally:
        os.chdir(before)


def run_session(session: Session, source: str = "<session>") -> str:
    """Run the command in-process; its standard output (an error when it exits non-zero)."""
    from typer.testing import CliRunner

    from k8s_service_lab.cli.main import app

    with _at_root():
        result = CliRunner().invoke(app, list(session.argv))
    if result.exit_code != 0:
        raise RuntimeError(
            f"{source}: `{session.command}` exited {result.exit_code}:\n{result.output}"
            + (f"\n{result.exception!r}" if result.exception else "")
        )
    return result.stdout


def render_session(session: Session, source: str = "<session>") -> tuple[str, str]:
    """The generated file's suffix and text for one session."""
    output = run_session(session, source)
    if session.mermaid:
        return ".mmd", output
    if session.excerpt is not None:
        output = excerpt(output, session.excerpt)
    return ".txt", f"$ {session.command}\n{output.rstrip()}\n"


def run_example(path: Path) -> str:
    """Run a Python example as ``python docs/examples/NAME.py`` would; what it printed."""
    buf = io.StringIO()
    with _at_root(), contextlib.redirect_stdout(buf):
        runpy.run_path(str(path), run_name="__main__")
    return buf.getvalue()


# -- the CLI reference ----------------------------------------------------------------------


def cli_reference() -> str:
    """Markdown for every ``ksl`` command: what it does, its usage line and its options."""
    import typer

    from k8s_service_lab.cli.main import app

    # typer builds a click-style command tree (recent typer vendors click, so the tree is
    # read through its methods rather than by importing click).
    group: Any = typer.main.get_command(app)
    root = typer.Context(group, info_name="ksl")
    parts = []
    for name in group.list_commands(root):
        command = group.get_command(root, name)
        if command is None or command.hidden:
            continue
        ctx = typer.Context(command, info_name=name, parent=root)
        parts.append(_command_markdown(command, ctx))
    return "\n".join(parts)


def _command_markdown(command: Any, ctx: Any) -> str:
    # Arguments in capitals, as the rest of the docs writes them.
    arguments = [
        p.name.upper() if p.required else f"[{p.name.upper()}]"
        for p in command.get_params(ctx)
        if p.param_type_name == "argument"
    ]
    usage = " ".join(["ksl", ctx.info_name, "[OPTIONS]", *arguments])
    help_text = (command.help or "").replace("\b\n", "")
    lines = [f"## `ksl {ctx.info_name}`", "", help_text.strip(), "", "```text", usage, "```", ""]
    lines += ["| argument / option | meaning | default |", "|---|---|---|"]
    lines += [_param_row(param) for param in command.get_params(ctx)]
    return "\n".join(lines) + "\n"


def _param_row(param: Any) -> str:
    if param.param_type_name == "argument":
        upper = param.name.upper()
        name = f"`{upper}`" if param.required else f"`[{upper}]`"
    else:
        name = ", ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])
    meaning = getattr(param, "help", None) or ""
    if getattr(param, "multiple", False) and "repeatable" not in meaning:
        meaning += " (repeatable)"
    default = param.default
    absent = default is None or default is False or default == () or callable(default)
    shown = "" if absent else f"`{default}`"
    if param.required:
        shown = "required"
    return f"| {name} | {_cell(meaning)} | {shown} |"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


# -- writing --------------------------------------------------------------------------------


def _write(path: Path, text: str, changed: list[Path]) -> None:
    if path.is_file() and path.read_text() == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    changed.append(path)


def generate(out: Path = OUT, examples: Path = EXAMPLES) -> list[Path]:
    """Write every generated file under ``out``; returns the ones whose text changed.

    Files that no session or example produces any more are removed, so a page that still
    includes one fails the build instead of showing stale output.
    """
    changed: list[Path] = []
    wanted: set[Path] = set()
    for path in sorted((examples / "sessions").glob("*.sh")):
        source = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)
        session = parse_session(path.read_text(), source)
        suffix, text = render_session(session, source)
        target = out / "sessions" / (path.stem + suffix)
        _write(target, text, changed)
        wanted.add(target)
    for path in sorted(examples.glob("*.py")):
        target = out / "examples" / (path.stem + ".out")
        _write(target, run_example(path), changed)
        wanted.add(target)
    target = out / "cli.md"
    _write(target, cli_reference(), changed)
    wanted.add(target)
    for stale in sorted(p for p in out.rglob("*") if p.is_file() and p not in wanted):
        stale.unlink()
        changed.append(stale)
    return changed


# -- mkdocs events --------------------------------------------------------------------------


def on_config(config: Any) -> None:
    """Check that the mermaid bundle is in place (a strict build fails when it is not)."""
    with _hooks_importable():
        from fetch_mermaid import MERMAID_VERSION, installed_version
    docs_dir = Path(config["docs_dir"])
    have = installed_version(docs_dir)
    if have != MERMAID_VERSION:
        log.warning(
            "mermaid %s is not in docs/assets/javascripts/ (found: %s): diagrams would need "
            "a CDN. Run `python docs/hooks/fetch_mermaid.py` (nox -s docs does).",
            MERMAID_VERSION,
            have,
        )


def on_pre_build(config: Any) -> None:
    """Regenerate ``docs/generated/`` from the library before the pages are read."""
    for path in generate():
        log.info("generated %s", path.relative_to(ROOT))


if __name__ == "__main__":
    for changed in generate():
        print(f"wrote {changed.relative_to(ROOT)}")
