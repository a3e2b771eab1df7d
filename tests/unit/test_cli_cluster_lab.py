"""``ksl cluster`` without root: refusals, the lab's recorded history, and its replay.

A lab outlives the command that built it because its history — config, seed, every change —
is written down and replayed by every later command (``netns/state.py``). These tests prove
the history survives a round trip through its file, and that replaying it rebuilds exactly the
model the kernel was built from, however often it is replayed. The kernel side is in
``tests/kernel/test_cli_cluster.py``.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from k8s_service_lab import Cluster
from k8s_service_lab.api import Pod
from k8s_service_lab.api.encode import to_json
from k8s_service_lab.cli.main import app
from k8s_service_lab.netns import plan_lab
from k8s_service_lab.netns.reconcile import LAB_TOOLS, missing_prerequisites, plan_changes
from k8s_service_lab.netns.state import (
    Apply,
    Delete,
    LabState,
    LabStateError,
    Readiness,
    Scale,
    Source,
    lab_names,
    load_state,
    perform,
    remove_state,
    save_state,
)

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "examples" / "web.yaml"
runner = CliRunner()


def web_state(name: str = "ksl-t-u") -> LabState:
    return LabState.new(name, seed=3).with_operation(Apply((Source(str(WEB), WEB.read_text()),)))


def snapshot(cluster: Cluster) -> dict[str, str]:
    """Everything a lab is laid out from, as JSON text: objects and the clock."""
    kinds = ("pods", "services", "endpointslices", "deployments", "replicasets")
    return {
        "now": cluster.now(),
        **{kind: to_json(cluster.list(kind, namespace=None), as_list=True) for kind in kinds},
    }


# -- refusals ------------------------------------------------------------------------------------


def test_not_root_is_refused_with_the_next_step() -> None:
    assert missing_prerequisites(1000, lambda tool: "/usr/sbin/" + tool) == (
        'the kernel lab needs root: run "sudo ksl cluster up"'
    )


def test_missing_tools_are_named_by_their_debian_package() -> None:
    absent = {"nft", "nfacct", "iptables-nft-save"}

    def which(tool: str) -> str | None:
        return None if tool in absent else "/usr/sbin/" + tool

    assert missing_prerequisites(0, which) == (
        "the kernel lab needs Debian packages: apt-get install iptables nfacct nftables"
    )
    assert missing_prerequisites(0, lambda tool: "/usr/sbin/" + tool) is None
    assert set(LAB_TOOLS.values()) == {"iproute2", "iptables", "nftables", "conntrack", "nfacct"}


@pytest.mark.parametrize(
    "argv",
    [
        ["cluster", "up", "--name", "ksl-t-u"],
        ["cluster", "status", "--name", "ksl-t-u"],
        ["cluster", "scale", "deployment/web", "--replicas", "2", "--name", "ksl-t-u"],
        ["cluster", "exec", "--name", "ksl-t-u", "default/web", "--", "true"],
    ],
)
def test_the_cli_refuses_without_root_and_builds_nothing(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    result = runner.invoke(app, argv)
    assert result.exit_code == 1
    assert 'error: the kernel lab needs root: run "sudo ksl cluster up"' in result.output
    assert not Path("/run/netns/ksl-t-u-net-kind").exists()


def test_a_lab_name_must_be_usable_as_a_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(LabStateError, match="unreadable lab state"):
        LabState.from_json({**web_state().to_json(), "seed": "x"})
    from k8s_service_lab.netns.names import LabPlanError

    with pytest.raises(LabPlanError, match='must not contain the word "pod"'):
        LabState.new("my-pod")


# -- the state on disk ---------------------------------------------------------------------------


def test_state_round_trips_through_its_file(tmp_path: Path) -> None:
    root = tmp_path / "ksl"
    state = (
        web_state()
        .with_operation(Scale("web", "default", 5))
        .with_operation(Delete("pods", "web-1", "default"))
        .with_operation(Delete("namespaces", "shop", None))
        .with_operation(Readiness("web-2", "default", False))
        .with_supervisor(4242)
    )
    path = save_state(state, root, create=True)
    assert load_state("ksl-t-u", root) == state
    assert json.loads(path.read_text())["operations"][1] == {
        "op": "scale",
        "name": "web",
        "namespace": "default",
        "replicas": 5,
    }
    # Only root may read a lab's history: manifests may hold anything.
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert lab_names(root) == ("ksl-t-u",)
    with pytest.raises(LabStateError, match='lab "ksl-t-u" is up already'):
        save_state(state, root, create=True)
    assert remove_state("ksl-t-u", root)
    assert not root.exists(), "the last lab down removes the root too"
    with pytest.raises(LabStateError, match='no lab "ksl-t-u" is up'):
        load_state("ksl-t-u", root)


def test_a_damaged_state_file_is_reported_not_replayed(tmp_path: Path) -> None:
    save_state(web_state(), tmp_path, create=True)
    (tmp_path / "ksl-t-u" / "state.json").write_text('{"version": 1, "name": ')
    with pytest.raises(LabStateError, match="unreadable lab state"):
        load_state("ksl-t-u", tmp_path)


names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20)
operations = st.one_of(
    st.builds(Apply, st.lists(st.builds(Source, names, st.text()), max_size=3).map(tuple)),
    st.builds(Delete, names, names, st.one_of(st.none(), names)),
    st.builds(Scale, names, names, st.integers(0, 1000)),
    st.builds(Readiness, names, names, st.booleans()),
)


@settings(database=None, max_examples=60, deadline=None)
@given(
    st.lists(operations, max_size=6),
    st.integers(0, 2**31),
    st.one_of(st.none(), st.integers(1, 2**22)),
)
def test_any_history_survives_json(ops: list[object], seed: int, pid: int | None) -> None:
    state = LabState.new("ksl-t-h", seed=seed)
    for op in ops:
        state = state.with_operation(op)  # type: ignore[arg-type]
    state = state.with_supervisor(pid)
    assert LabState.from_json(json.loads(json.dumps(state.to_json()))) == state


# -- replay --------------------------------------------------------------------------------------


def test_replay_rebuilds_the_same_model_as_the_live_commands() -> None:
    """What each command did to its own replay equals what any later replay gives."""
    state = web_state()
    live = state.replay()
    for op in (Scale("web", "default", 5), Readiness("", "default", False)):
        if isinstance(op, Readiness):  # a pod that exists only because of the scale
            op = Readiness(live.list(Pod)[-1].metadata.name, "default", False)
        perform(live, op)
        state = state.with_operation(op)
    victim = live.list(Pod)[0].metadata.name
    assert perform(live, Delete("pods", victim)) == [f'pod "{victim}" deleted']
    state = state.with_operation(Delete("pods", victim))
    replayed = [state.replay(), LabState.from_json(state.to_json()).replay()]
    assert snapshot(replayed[0]) == snapshot(live) == snapshot(replayed[1])
    # Deleted and waited for: the pod is gone and its replacement runs; nothing terminates.
    pods = live.list(Pod)
    assert victim not in {p.metadata.name for p in pods}
    assert len(pods) == 5
    assert not [p for p in pods if p.metadata.deletion_timestamp]
    # The kernel layout (names, IPs, veths) is the same too.
    assert plan_lab(replayed[0], prefix="ksl-t-u") == plan_lab(live, prefix="ksl-t-u")


def test_another_seed_gives_another_cluster() -> None:
    ours = web_state().replay()
    theirs = LabState.new("ksl-t-u", seed=4).with_operation(web_state().operations[0]).replay()
    assert snapshot(ours) != snapshot(theirs)


def test_deleting_a_deployment_takes_its_replicasets_and_pods() -> None:
    cluster = web_state().replay()
    assert perform(cluster, Delete("deployments", "web")) == ['deployment.apps "web" deleted']
    assert cluster.list("replicasets") == []
    assert [p.metadata.name for p in cluster.list(Pod)] == []


def test_scaling_down_waits_until_the_removed_pods_are_gone() -> None:
    cluster = web_state().replay()
    assert perform(cluster, Scale("web", "default", 1)) == ["deployment.apps/web scaled"]
    assert len(cluster.list(Pod)) == 1


def test_an_apply_keeps_file_names_in_refusals() -> None:
    cluster = Cluster()
    bad = Source(
        "bad.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: bad}\nspec: {ports: [{port: 0}]}\n",
    )
    (line,) = perform(cluster, Apply((bad,)))
    assert line.startswith('Error from server (Invalid): error when creating "bad.yaml": Service')


# -- which pods change ---------------------------------------------------------------------------


def test_plan_changes_adds_new_pods_and_removes_gone_ones() -> None:
    cluster = web_state().replay()
    before = plan_lab(cluster, prefix="ksl-t-u")
    assert not plan_changes(before, before)
    perform(cluster, Scale("web", "default", 4))
    grown = plan_lab(cluster, prefix="ksl-t-u")
    changes = plan_changes(before, grown)
    new = {p.pod for p in grown.pods} - {p.pod for p in before.pods}
    assert {p.pod for p in changes.added} == new
    assert len(new) == 1
    assert changes.removed == ()
    shrunk = plan_changes(grown, before)
    assert shrunk.added == ()
    assert shrunk.removed == tuple(sorted(p.namespace for p in changes.added))
    # What the kernel holds counts: a pod namespace nobody wants any more goes too.
    stray = "ksl-t-u-pod-default.left-over"
    assert plan_changes(before, before, [*(p.namespace for p in before.pods), stray]).removed == (
        stray,
    )


def test_without_a_lab_commands_read_a_fresh_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    from k8s_service_lab.cli.common import build_cluster

    monkeypatch.setenv("KSL_CLUSTER", "ksl-t-none")
    cluster, ok = build_cluster([], None, 0)
    assert ok
    assert [s.metadata.name for s in cluster.list("services", namespace=None)] == [
        "kubernetes",
        "kube-dns",
    ]
