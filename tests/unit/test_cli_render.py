"""``ksl render`` and ``Cluster.render``/``sync``: kube-proxy's view of a node, end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

from k8s_service_lab import Cluster, ServiceLabError
from k8s_service_lab.netfilter import DeleteChain, Rule, parse_save, to_restore
from tests.unit.test_cli import ksl

WEB = Path(__file__).resolve().parents[2] / "examples" / "web.yaml"


def test_render_prints_jumps_then_a_payload_that_parses() -> None:
    result = ksl("render", "-f", str(WEB))
    assert result.returncode == 0, result.stderr
    text = result.stdout
    first_payload = text.index("-A KUBE-")
    assert "-I OUTPUT -m conntrack --ctstate NEW" in text[:first_payload]
    assert '--comment "default/web:http cluster IP"' in text
    # Both parts are valid restore text: the jumps as -I, the payload as -A.
    parse_save(text)


def test_render_as_save_reads_like_a_kind_node() -> None:
    out = ksl("render", "--as-save").stdout.splitlines()
    nat = out.index("*nat")
    assert out[nat + 1 : nat + 5] == [
        ":PREROUTING ACCEPT [0:0]",
        ":INPUT ACCEPT [0:0]",
        ":OUTPUT ACCEPT [0:0]",
        ":POSTROUTING ACCEPT [0:0]",
    ]
    # kubelet's KUBE-FIREWALL jump was there first, so kube-proxy's go above it.
    filter_input = [line for line in out if line.startswith("-A INPUT")]
    assert filter_input[-1] == "-A INPUT -j KUBE-FIREWALL"
    assert "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000" in out
    assert any(line.startswith("-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp") for line in out)


def test_render_explain_names_each_chain() -> None:
    out = ksl("render", "--explain", "-f", str(WEB)).stdout
    assert "KUBE-SVC-NPX46M4PTMTKRN6Y" in out
    assert "[default/kubernetes:https]" in out
    assert "[default/web:http]" in out


def test_render_ipv6_on_an_ipv4_cluster_is_a_clear_error() -> None:
    result = ksl("render", "--ip-family", "6")
    assert result.returncode == 1
    assert "no IPv6 service network" in result.stderr
    assert "Traceback" not in result.stderr


def test_render_unknown_node_and_mode() -> None:
    assert 'nodes "nope" not found' in ksl("render", "--node", "nope").stderr
    assert 'kube-proxy mode "ipvs" is not modelled yet' in ksl("render", "--mode", "ipvs").stderr


def test_sync_is_full_first_then_partial() -> None:
    cluster = Cluster()
    cluster.apply(WEB.read_text())
    full = to_restore(cluster.sync())
    assert "KUBE-SVC-NPX46M4PTMTKRN6Y" in full
    # Nothing changed: the next sync rewrites only the top-level chains.
    quiet = cluster.sync()
    assert not any(
        isinstance(st, Rule) and st.chain.startswith("KUBE-SEP-")
        for t in quiet.tables
        for st in t.statements
    )
    # One pod goes unready: only web's chains are rewritten, its stale endpoint chain deleted.
    pod = next(p for p in cluster.list("pods") if p.metadata.name.startswith("web-"))
    cluster.set_ready(pod.metadata.name, False)
    partial = cluster.sync()
    text = to_restore(partial)
    assert ":KUBE-SVC-CDGGSHYLG3RE2FKL - [0:0]" in text  # default/web:http, rewritten
    # kube-dns and kubernetes appear only in the always-rewritten KUBE-SERVICES; their own
    # chains are left as they are in the kernel.
    assert "-A KUBE-SVC-TCOU7JCQXEZGVUNU" not in text
    assert ":KUBE-SVC-NPX46M4PTMTKRN6Y" not in text
    deleted = [
        st.name for t in partial.tables for st in t.statements if isinstance(st, DeleteChain)
    ]
    assert deleted == [] or all(name.startswith("KUBE-SEP-") for name in deleted)
    # render is always the full picture and does not disturb sync's bookkeeping.
    assert "kube-system/kube-dns" in to_restore(cluster.render())


def test_render_matches_a_full_sync_on_a_fresh_proxy() -> None:
    a, b = Cluster(), Cluster()
    assert to_restore(a.render()) == to_restore(b.sync())


def test_unknown_mode_raises_a_service_lab_error() -> None:
    with pytest.raises(ServiceLabError):
        Cluster().render(mode="ipvs")


def test_a_rulesets_str_is_its_restore_text() -> None:
    cluster = Cluster()
    payload = cluster.render()
    assert str(payload) == to_restore(payload)
    assert str(payload).startswith("*filter\n")
