"""Changing a running lab: pod namespaces come and go as the model's pods do.

When the model changes (a Deployment scaled, a pod deleted and replaced), the kernel follows
as the real components would. kubelet and the CNI (kindnet's ``ptp`` plugin) give a new pod
its namespace, veth, addresses and routes, and take them away with a pod that is gone; the
pod servers serve the new set; the CoreDNS pods answer from the new zone; and every node's
kube-proxy syncs. :func:`plan_changes` works out which pod namespaces to add and remove by
comparing two plans (and what the kernel holds), without touching anything::

    >>> from k8s_service_lab import Cluster
    >>> from k8s_service_lab.netns import plan_lab
    >>> cluster = Cluster()
    >>> before = plan_lab(cluster, prefix="ksl-doc")
    >>> _ = cluster.apply("apiVersion: v1\\nkind: Pod\\nmetadata: {name: solo}\\n"
    ...     "spec: {nodeName: kind-worker, containers: [{name: c, image: agnhost}]}\\n")
    >>> changes = plan_changes(before, plan_lab(cluster, prefix="ksl-doc"))
    >>> [p.pod for p in changes.added], changes.removed
    (['default/solo'], ())

As root, :func:`bring_up` builds a lab whose pod servers outlive the calling process, and
:func:`update_lab` brings a running lab in line with the model: it stops the pod-server
supervisor (found by its network namespace, not only by the PID the state remembers), removes
and adds pod namespaces, writes the new pods' ``resolv.conf``, starts a new detached supervisor
for the new set with the new DNS zone, and lets every node's kube-proxy sync (see
:class:`~.proxy.LabProxy`: a new process's first sync is full and deletes the Service chains
nothing uses any more, as kube-proxy does after a restart, and cleans stale UDP conntrack
entries).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pyroute2 import IPRoute
from pyroute2 import netns as pyroute2_netns

from k8s_service_lab.netfilter import KernelTables, canonical
from k8s_service_lab.netns.enter import namespace_path
from k8s_service_lab.netns.kernel import (
    build,
    configure_namespace,
    destroy,
    lab_namespaces,
    pyroute2_quiet,
    require_root,
    write_sysctls,
)
from k8s_service_lab.netns.names import Role, check_prefix, namespace_name
from k8s_service_lab.netns.plan import LabPlan, NetNamespace, PodPlan, Veth, plan_lab
from k8s_service_lab.netns.podserver import MODULE, PodServers, stop_detached
from k8s_service_lab.netns.proxy import LabProxy, NodeSync, as_ruleset
from k8s_service_lab.netns.resolvconf import LabDNS, write_resolv_confs

if TYPE_CHECKING:
    from k8s_service_lab.cluster import Cluster

__all__ = [
    "LAB_TOOLS",
    "LabUpdate",
    "NodeRules",
    "PodChanges",
    "apply_pod_changes",
    "bring_up",
    "is_supervisor",
    "missing_prerequisites",
    "node_rules",
    "plan_changes",
    "supervisors",
    "target_namespace",
    "update_lab",
]

#: What the lab runs, and the Debian package each comes from (for a refusal naming it).
LAB_TOOLS = {
    "ip": "iproute2",
    "iptables-nft-restore": "iptables",
    "iptables-nft-save": "iptables",
    "nft": "nftables",
    "conntrack": "conntrack",
    "nfacct": "nfacct",
}


def missing_prerequisites(
    euid: int, which: Callable[[str], str | None] = shutil.which
) -> str | None:
    """Why the kernel lab cannot run here (not root, or which packages are missing), or
    ``None``; the message names the next step (DESIGN §8)."""
    if euid != 0:
        return 'the kernel lab needs root: run "sudo ksl cluster up"'
    missing = sorted({pkg for tool, pkg in LAB_TOOLS.items() if which(tool) is None})
    if missing:
        return "the kernel lab needs Debian packages: apt-get install " + " ".join(missing)
    return None


def target_namespace(prefix: str, target: str) -> tuple[str, str]:
    """The lab namespace ``ksl cluster exec`` enters for ``target``, and what it is in words.

    ``external``, ``node/NAME``, ``NAMESPACE/POD`` or just ``POD`` (in ``default``)::

        >>> target_namespace("ksl", "node/kind-worker")
        ('ksl-node-kind-worker', 'node "kind-worker"')
        >>> target_namespace("ksl", "shop/web-0")[0]
        'ksl-pod-shop.web-0'
    """
    check_prefix(prefix)
    if target == "external":
        return namespace_name(prefix, Role.EXTERNAL, "external"), "the external host"
    if target.startswith("node/"):
        node = target.removeprefix("node/")
        return namespace_name(prefix, Role.NODE, node), f'node "{node}"'
    namespace, _, pod = target.rpartition("/")
    namespace = namespace or "default"
    what = f'pod "{pod}" in namespace "{namespace}"'
    return namespace_name(prefix, Role.POD, f"{namespace}/{pod}"), what


# -- which pods change ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PodChanges:
    """Pods to give a namespace (with what the plan says), and pod namespaces to remove.

    A pod whose wiring changed (another IP, node or veth name) is in both: removed, then added.
    """

    added: tuple[PodPlan, ...]
    removed: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.added or self.removed)


def plan_changes(
    before: LabPlan | None, after: LabPlan, existing: Collection[str] | None = None
) -> PodChanges:
    """What turns the pods of ``before`` (or the pod namespaces ``existing`` in the kernel)
    into those of ``after``. Pure: reads the plans, touches nothing."""
    prior = {p.namespace: p for p in before.pods} if before is not None else {}
    have = set(prior) if existing is None else set(existing)
    wanted = {p.namespace: p for p in after.pods}
    changed = {
        ns
        for ns, pod in wanted.items()
        if ns in prior and before is not None and _wiring(before, prior[ns]) != _wiring(after, pod)
    }
    removed = sorted((have - set(wanted)) | (changed & have))
    added = tuple(p for p in after.pods if p.namespace not in have or p.namespace in changed)
    return PodChanges(added, tuple(removed))


def _veth(plan: LabPlan, pod: PodPlan) -> Veth:
    return next(v for v in plan.veths if v.peer_namespace == pod.namespace)


def _node_side(plan: LabPlan, pod: PodPlan) -> NetNamespace:
    """Only what the node holds for this pod: the veth's gateway address and the /32 route."""
    veth = _veth(plan, pod)
    node = plan.namespace(veth.namespace)
    return NetNamespace(
        node.name,
        Role.NODE,
        node.subject,
        addresses=tuple(a for a in node.addresses if a.interface == veth.name),
        routes=tuple(r for r in node.routes if r.device == veth.name),
    )


def _wiring(plan: LabPlan, pod: PodPlan) -> tuple[object, ...]:
    return (pod, plan.namespace(pod.namespace), _veth(plan, pod), _node_side(plan, pod))


# -- the kernel side -----------------------------------------------------------------------------


def apply_pod_changes(changes: PodChanges, before: LabPlan | None, after: LabPlan) -> None:
    """Remove and add pod namespaces in the running lab ``after.prefix`` (root).

    Removal deletes the node's end of the veth first (the pair, the gateway address and the
    pod's /32 route go with it), then the namespace and any process still in it. Adding does
    what ``kernel.build`` does for one pod: namespace, sysctls, a veth from the node into the
    pod, the pod's addresses and routes, the node's gateway address and /32 route. A failure
    removes the namespaces this call created before the error propagates.

    The supervisor must be stopped first: its sockets would keep a removed pod's namespace
    (and so its veth and route) alive.
    """
    require_root()
    if changes.removed:
        with pyroute2_quiet():
            for name in changes.removed:
                _delete_node_veth(before, name)
        doomed = tuple(NetNamespace(n, Role.POD, n) for n in changes.removed)
        destroy(LabPlan(after.prefix, (), (), doomed, (), ()))
    created: list[str] = []
    owner = os.getpid()
    try:
        with pyroute2_quiet():
            for pod in changes.added:
                pyroute2_netns.create(pod.namespace)
                created.append(pod.namespace)
            write_sysctls(tuple(after.namespace(p.namespace) for p in changes.added))
            for pod in changes.added:
                _wire_pod(after, pod)
    except BaseException:
        if os.getpid() == owner:  # never from a forked pyroute2 helper
            doomed = tuple(NetNamespace(n, Role.POD, n) for n in created)
            destroy(LabPlan(after.prefix, (), (), doomed, (), ()))
        raise


def _delete_node_veth(before: LabPlan | None, namespace: str) -> None:
    if before is None:
        return
    veth = next((v for v in before.veths if v.peer_namespace == namespace), None)
    if veth is None or not namespace_path(veth.namespace).exists():
        return
    with IPRoute(netns=veth.namespace, flags=0) as ipr:
        found = ipr.link_lookup(ifname=veth.name)
        if found:
            ipr.link("del", index=found[0])


def _wire_pod(plan: LabPlan, pod: PodPlan) -> None:
    veth = _veth(plan, pod)
    with IPRoute(netns=veth.namespace, flags=0) as ipr:
        ipr.link(
            "add",
            ifname=veth.name,
            kind="veth",
            peer={"ifname": veth.peer, "net_ns_fd": veth.peer_namespace},
        )
    with IPRoute(netns=pod.namespace, flags=0) as ipr:
        configure_namespace(ipr, plan.namespace(pod.namespace))
    with IPRoute(netns=veth.namespace, flags=0) as ipr:
        configure_namespace(ipr, _node_side(plan, pod))


# -- the pod-server supervisor -------------------------------------------------------------------


def is_supervisor(pid: int, home: Path) -> bool:
    """Whether ``pid`` is a pod-server supervisor living in the namespace at ``home``.

    A PID read back from a file may belong to another process by now; only one that runs the
    supervisor module inside the lab's own network namespace is the lab's server.
    """
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        inode = os.stat(f"/proc/{pid}/ns/net").st_ino
        return MODULE.encode() in argv and inode == os.stat(home).st_ino
    except OSError:
        return False


def supervisors(plan: LabPlan) -> tuple[int, ...]:
    """Every pod-server supervisor in the lab's network namespace (the lab's own: found by
    namespace, so also one a crashed command never wrote down)."""
    home = namespace_path(plan.network.name)
    pids = (int(e.name) for e in os.scandir("/proc") if e.name.isdigit())
    return tuple(sorted(pid for pid in pids if is_supervisor(pid, home)))


# -- whole-lab operations ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LabUpdate:
    """What bringing up or updating a lab did: pods added and removed, the new supervisor's
    PID and sockets, and every node's kube-proxy sync."""

    plan: LabPlan
    changes: PodChanges
    supervisor: int
    sockets: int
    syncs: tuple[NodeSync, ...]


def bring_up(cluster: Cluster, prefix: str, *, log: Path | None = None) -> LabUpdate:
    """Build the lab for ``cluster``, start a detached supervisor, install kube-proxy.

    On any failure everything built is taken down again before the error propagates.
    """
    plan = plan_lab(cluster, prefix=prefix)
    dns = LabDNS.of(cluster.dns)
    build(plan, dns=dns)
    servers: PodServers | None = None
    owner = os.getpid()
    try:
        servers = PodServers.start(plan, dns=dns, detached=True, log=log)
        syncs = LabProxy(cluster, plan).install()
    except BaseException:
        if os.getpid() == owner:  # never from a forked pyroute2 helper
            if servers is not None:
                servers.stop()
            destroy(plan)
        raise
    changes = PodChanges(plan.pods, ())
    return LabUpdate(plan, changes, servers.pid, servers.sockets, syncs)


def update_lab(
    cluster: Cluster, prefix: str, before: LabPlan | None, *, log: Path | None = None
) -> LabUpdate:
    """Bring the running lab ``prefix`` in line with ``cluster`` (root).

    ``before`` is the plan the kernel was built from (the model before the change); pods
    whose wiring differs from it are re-made. The supervisor is always restarted: even a
    change that adds no pod may change the DNS zone the CoreDNS pods serve. Connections held
    open to the old servers are closed, as they would be by a restarted pod.
    """
    require_root()
    after = plan_lab(cluster, prefix=prefix)
    for pid in supervisors(after):
        stop_detached(pid)
    pod_prefix = f"{prefix}-{Role.POD}-"
    existing = [n for n in lab_namespaces(prefix) if n.startswith(pod_prefix)]
    changes = plan_changes(before, after, existing)
    apply_pod_changes(changes, before, after)
    dns = LabDNS.of(cluster.dns)
    write_resolv_confs(after, dns)
    servers = PodServers.start(after, dns=dns, detached=True, log=log)
    syncs = LabProxy(cluster, after).install()
    return LabUpdate(after, changes, servers.pid, servers.sockets, syncs)


@dataclass(frozen=True, slots=True)
class NodeRules:
    """A node's kube-proxy rules as the kernel holds them, against what the model says."""

    node: str
    rules: int
    chains: int
    matches_model: bool


def node_rules(cluster: Cluster, plan: LabPlan) -> tuple[NodeRules, ...]:
    """For every node: how many rules and chains ``iptables-save`` shows in its namespace, and
    whether they are exactly the jumps plus a full render of the model now (root)."""
    proxy = LabProxy(cluster, plan)
    found = []
    for node in proxy.nodes:
        if proxy.mode == "nftables":
            found.append(_nft_node_rules(proxy, cluster, node))
            continue
        kernel = canonical(proxy.rules(node))
        model = KernelTables(4)
        model.ensure(as_ruleset(cluster.jump_rules(node=node)))
        model.restore(as_ruleset(cluster.render(node=node)))
        expected = canonical(model.ruleset())
        same = {t.name: t for t in kernel.tables} == {t.name: t for t in expected.tables}
        rules = sum(len(t.statements) for t in kernel.tables)
        chains = sum(len(t.chains) for t in kernel.tables)
        found.append(NodeRules(node, rules, chains, same))
    return tuple(found)


def _nft_node_rules(proxy: LabProxy, cluster: Cluster, node: str) -> NodeRules:
    """nftables mode: the node's ``ip kube-proxy`` table against a fresh render of the model."""
    from k8s_service_lab.netfilter import NftRuleset, NftTransaction
    from k8s_service_lab.netns.proxy_rules import nft_table_view

    kernel = proxy.nft_rules(node)
    payload = cluster.render("nftables", node)
    assert isinstance(payload, NftTransaction)
    model = NftRuleset.of(payload).table("ip", "kube-proxy")
    tables = [(t.family, t.name) for t in kernel.tables]
    if tables != [("ip", "kube-proxy")]:
        return NodeRules(node, 0, 0, False)
    table = kernel.table("ip", "kube-proxy")
    same = nft_table_view(table) == nft_table_view(model)
    rules = sum(len(r) for r in table.rules.values())
    return NodeRules(node, rules, len(table.chains), same)
