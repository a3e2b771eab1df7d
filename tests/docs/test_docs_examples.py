"""The docs' examples are real code: every manifest applies, every script runs, every session works.

Pages include code only from ``docs/examples/`` (``pymdownx.snippets``), and their listings
and diagrams are written by ``docs/hooks/generate.py`` from the ``ksl`` sessions there. These
tests run all of it the way a reader would, and check the generator's own behaviour.
"""

from __future__ import annotations

import importlib.util
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from k8s_service_lab import Cluster

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"
MANIFESTS = sorted(EXAMPLES.glob("*.yaml"))
SCRIPTS = sorted(EXAMPLES.glob("*.py"))
SHELL = sorted([*EXAMPLES.glob("*.sh"), *EXAMPLES.glob("sessions/*.sh")])


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "docs_hooks_generate", ROOT / "docs" / "hooks" / "generate.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Dataclasses look their module up in sys.modules while the class is being made.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


generate = _load_generator()


def _ids(paths: list[Path]) -> list[str]:
    return [p.relative_to(EXAMPLES).as_posix() for p in paths]


def test_there_are_examples_of_each_kind() -> None:
    assert len(MANIFESTS) >= 6
    assert SCRIPTS
    assert len(SHELL) >= 10


@pytest.mark.parametrize("path", MANIFESTS, ids=_ids(MANIFESTS))
def test_manifest_applies_cleanly(path: Path) -> None:
    results = Cluster().apply(path)  # raises ApplyError if the apiserver would refuse any
    assert results
    assert all(r.action == "created" for r in results), [r.kubectl() for r in results]


def test_all_manifests_apply_together() -> None:
    # `ksl get services -f docs/examples/` (a session) applies the whole directory at once.
    cluster = Cluster()
    cluster.apply(EXAMPLES)
    names = {s.metadata.name for s in cluster.list("services")}
    assert {"web", "echo", "db", "upstream", "shop", "api"} <= names


@pytest.mark.parametrize("path", SCRIPTS, ids=_ids(SCRIPTS))
def test_python_example_runs(path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(path)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


@pytest.fixture(scope="module")
def ksl_on_path(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An environment whose PATH has a ``ksl`` that runs this checkout with this Python."""
    bin_dir = tmp_path_factory.mktemp("bin")
    shim = bin_dir / "ksl"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m k8s_service_lab "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    return {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(ROOT),
    }


@pytest.mark.parametrize("path", SHELL, ids=_ids(SHELL))
def test_shell_example_runs(path: Path, ksl_on_path: dict[str, str]) -> None:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", str(path)],
        cwd=ROOT,
        env=ksl_on_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("sessions/*.sh")), ids=lambda p: p.stem)
def test_session_is_one_ksl_command_on_example_files(path: Path) -> None:
    session = generate.parse_session(path.read_text(), path.name)
    argv = list(session.argv)
    files = [
        argv[i + 1] for i, word in enumerate(argv[:-1]) if word in ("-f", "--filename", "--config")
    ]
    for name in files:
        assert (ROOT / name).exists(), f"{path.name}: {name} does not exist"
        # The docs' own examples — or a lab's own files, for a diagram on that lab's page.
        lab = re.fullmatch(r"labs/(\d\d)-[a-z0-9-]+/(manifests/.+|kind\.yaml)", name)
        assert name.startswith("docs/examples/") or lab, f"{path.name}: {name}"
        if lab:
            assert path.stem.startswith(f"lab{lab[1]}-"), "name a lab's session after its lab"


def test_parse_session_refuses_two_commands() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        generate.parse_session("ksl get pods\nksl get services\n")
    with pytest.raises(ValueError, match="exactly one"):
        generate.parse_session("kubectl get pods\n")


def test_excerpt_keeps_one_service_and_its_uncommented_chains() -> None:
    session = generate.parse_session(
        "# excerpt: default/echo:\n"
        "ksl render -f docs/examples/nodeport-local.yaml -f docs/examples/web.yaml\n"
    )
    _, text = generate.render_session(session)
    lines = text.splitlines()
    assert lines[0].startswith("$ ksl render")
    assert "default/web" not in text
    # The EXT chain's last jump carries no comment but belongs to echo: it must be kept.
    ext = [line for line in lines if line.startswith("-A KUBE-EXT-") and "comment" not in line]
    assert len(ext) == 1
    assert ext[0].split(" -j ")[1].startswith("KUBE-SVL-")
    # Every per-Service chain a kept rule jumps to is declared, so the excerpt still loads.
    declared = {line[1:].split(" ")[0] for line in lines if line.startswith(":")}
    jumped = {line.split(" -j ")[1] for line in lines if " -j KUBE-S" in line}
    assert jumped - {"KUBE-MARK-MASQ"} <= declared


def test_excerpt_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no rule mentions"):
        generate.excerpt("*nat\n-A KUBE-SERVICES -j RETURN\nCOMMIT\n", "default/none:")
    with pytest.raises(ValueError, match="no chain or element mentions"):
        generate.excerpt("add table ip kube-proxy\nadd chain ip kube-proxy services\n", "x/y/")


def _nft_excerpt(wanted: str, *manifests: str) -> list[str]:
    files = " ".join(f"-f docs/examples/{m}" for m in manifests)
    session = generate.parse_session(
        f"# excerpt: {wanted}\nksl render --mode nftables {files} --node kind-worker\n"
    )
    _, text = generate.render_session(session)
    lines: list[str] = text.splitlines()
    assert lines[0].startswith("$ ksl render --mode nftables")
    return lines[1:]


def test_nft_excerpt_keeps_one_service_its_elements_and_the_dispatch() -> None:
    lines = _nft_excerpt("default/echo/", "nodeport-local.yaml", "web.yaml")
    assert lines[0].startswith("add table ip kube-proxy")
    assert not [line for line in lines if "default/web/" in line or "kube-system" in line]
    assert not [line for line in lines if line.startswith(("flush ", "delete "))]
    # Every chain the excerpt's rules go to is declared in it, but for shared helpers.
    declared = {line.split()[4] for line in lines if line.startswith("add chain ")}
    ruled = {line.split()[4] for line in lines if line.startswith("add rule ")}
    gone_to = {
        word
        for line in lines
        for verb, word in zip(line.split(), line.split()[1:], strict=False)
        if verb in ("goto", "jump")
    }
    assert ruled <= declared
    assert gone_to - declared == {"mark-for-masquerade"}
    # The ClusterIP and NodePort dispatch: map elements naming echo's chains, and the
    # `services` rules that look them up, reached from the hooked nat chains.
    elements = [line for line in lines if line.startswith("add element ")]
    assert any(" service-ips { " in e and "goto service-" in e for e in elements)
    assert any(" service-nodeports { tcp . 30080 : goto external-" in e for e in elements)
    assert any(e.startswith("add element ip kube-proxy cluster-ips { ") for e in elements)
    assert "add rule ip kube-proxy nat-prerouting jump services" in lines
    assert (
        "add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips"
        in lines
    )
    # A base chain keeps the declaration with its hook, once.
    prerouting = [
        line for line in lines if line.startswith("add chain ip kube-proxy nat-prerouting")
    ]
    assert prerouting == [
        "add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }"
    ]


def test_nft_excerpt_of_a_service_without_endpoints_keeps_its_reject_element() -> None:
    lines = _nft_excerpt("default/api", "broken-selector.yaml")
    # No endpoints, no chains of its own: only its elements (and what looks them up).
    assert not [line for line in lines if line.startswith("add chain") and "default/api" in line]
    assert any("no-endpoint-services {" in line and "goto reject-chain" in line for line in lines)
    assert (
        "add rule ip kube-proxy filter-forward ct state new jump service-endpoints-check" in lines
    )


def test_generate_writes_every_snippet_and_removes_stale_ones(tmp_path: Path) -> None:
    stale = tmp_path / "sessions" / "gone.txt"
    stale.parent.mkdir(parents=True)
    stale.write_text("old output\n")
    written = generate.generate(out=tmp_path)
    assert stale in written
    assert not stale.exists()
    for path in EXAMPLES.glob("sessions/*.sh"):
        mermaid = "-o mermaid" in path.read_text()
        out = tmp_path / "sessions" / (path.stem + (".mmd" if mermaid else ".txt"))
        assert out.is_file(), out
        text = out.read_text()
        if mermaid:
            assert text.startswith("flowchart TD\n")
            assert "(arriving)" in text or "(sent by the node)" in text
        else:
            assert text.startswith("$ ksl ")
    for path in SCRIPTS:
        assert (tmp_path / "examples" / (path.stem + ".out")).read_text().strip()
    # Same inputs, same outputs: a second run changes nothing (mkdocs serve must not loop).
    assert generate.generate(out=tmp_path) == []


def test_web_trace_diagram_shows_three_equal_branches(tmp_path: Path) -> None:
    generate.generate(out=tmp_path)
    mermaid = (tmp_path / "sessions" / "trace-web-mermaid.mmd").read_text()
    assert mermaid.count("|1/3|") == 3
    assert mermaid.count('(["DNAT 10.244.') == 3


def test_cli_reference_documents_every_command() -> None:
    import typer

    from k8s_service_lab.cli.main import app

    text = generate.cli_reference()
    group = typer.main.get_command(app)
    names = group.list_commands(typer.Context(group, info_name="ksl"))  # type: ignore[attr-defined]
    assert names
    for name in names:
        assert f"## `ksl {name}`" in text
    assert "| `--src` |" in text
    assert "ksl get [OPTIONS] KIND [NAME]" in text
