"""The pods' ``resolv.conf`` in the lab: what kubelet writes, where ``ip netns exec`` finds it.

kubelet gives every ``dnsPolicy: ClusterFirst`` pod a resolv.conf naming the cluster DNS
Service (``nameserver 10.96.0.10``), the pod's search path and ``options ndots:5``. In the lab,
``ip netns exec NAME`` bind-mounts ``/etc/netns/NAME/resolv.conf`` over ``/etc/resolv.conf``
(``ip-netns(8)``), so that is where :func:`write_resolv_confs` puts it; the lab removes the
files (and ``/etc/netns`` itself when it made it) when it goes down::

    >>> from k8s_service_lab import Cluster
    >>> dns = LabDNS.of(Cluster().dns)
    >>> print(dns.resolv_conf("default/web").render(), end="")
    search default.svc.cluster.local svc.cluster.local cluster.local
    nameserver 10.96.0.10
    options ndots:5
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from k8s_service_lab.api import Pod, Service
from k8s_service_lab.controlplane.dns import ClusterDNS
from k8s_service_lab.controlplane.dnsresolver import ResolvConf
from k8s_service_lab.errors import ServiceLabError
from k8s_service_lab.netns.dnsserver import ZoneSnapshot
from k8s_service_lab.netns.names import owns

if TYPE_CHECKING:
    from k8s_service_lab.netns.plan import LabPlan

__all__ = [
    "ETC_NETNS",
    "MARKER",
    "LabDNS",
    "remove_resolv_confs",
    "resolv_conf_dirs",
    "write_resolv_confs",
]

#: Where ``ip netns exec NAME`` finds files to bind-mount over ``/etc`` (``ip-netns(8)``).
ETC_NETNS = Path("/etc/netns")
#: Left in ``/etc/netns`` when the lab had to create it, so the last lab down removes it again.
MARKER = ".ksl-created-this-directory"


@dataclass(frozen=True, slots=True)
class LabDNS:
    """DNS for a lab: the zone its CoreDNS pods serve, which pods they are, and kubelet's
    ``clusterDNS`` (the ``nameserver`` every ``ClusterFirst`` pod's resolv.conf names)."""

    zone: ZoneSnapshot
    nameserver: str | None
    servers: tuple[str, ...]
    node_search: tuple[str, ...] = ()

    @classmethod
    def of(cls, dns: ClusterDNS, *, nameserver: str | None = None) -> LabDNS:
        """From the model: the CoreDNS pods are ``kube-system`` pods labelled
        ``k8s-app=kube-dns``; the nameserver defaults to ``kube-dns``'s clusterIP."""
        pods = dns.reader.list(Pod, "kube-system")
        servers = sorted(
            f"kube-system/{p.metadata.name}"
            for p in pods
            if p.metadata.labels.get("k8s-app") == "kube-dns"
        )
        if nameserver is None:
            found = (
                s.spec.cluster_ip
                for s in dns.reader.list(Service, "kube-system")
                if s.metadata.name == "kube-dns" and s.spec.cluster_ip
            )
            nameserver = next(found, None)
        return cls(ZoneSnapshot.of(dns), nameserver, tuple(servers))

    def resolv_conf(self, pod: str) -> ResolvConf:
        """What kubelet writes for pod ``namespace/name`` (``dnsPolicy: ClusterFirst``)."""
        namespace = pod.split("/", 1)[0]
        return ResolvConf.cluster_first(
            namespace,
            domain=self.zone.domain,
            nameserver=self.nameserver,
            node_search=self.node_search,
        )


def _directory(root: Path, name: str) -> Path:
    if not name or name.startswith(".") or Path(name).name != name:
        raise ServiceLabError(f'refusing to write under {root}: "{name}" is not a plain name')
    return root / name


def write_resolv_confs(plan: LabPlan, dns: LabDNS, root: Path = ETC_NETNS) -> tuple[Path, ...]:
    """``<root>/<pod namespace>/resolv.conf`` for every pod of ``plan``; the files written.

    ``root`` is created (with a marker saying so) when missing, so that the last lab taken
    down can remove it again; nothing else under ``/etc`` is touched.
    """
    with contextlib.suppress(FileExistsError):
        root.mkdir(mode=0o755)
        (root / MARKER).write_text("made by k8s-service-lab; removed with the last lab\n")
    written = []
    for pod in plan.pods:
        directory = _directory(root, pod.namespace)
        directory.mkdir(mode=0o755, exist_ok=True)
        path = directory / "resolv.conf"
        path.write_text(dns.resolv_conf(pod.pod).render())
        written.append(path)
    return tuple(written)


def resolv_conf_dirs(prefix: str, root: Path = ETC_NETNS) -> tuple[str, ...]:
    """Names of the directories under ``root`` that belong to lab ``prefix``."""
    if not root.is_dir():
        return ()
    return tuple(sorted(n for n in os.listdir(root) if owns(prefix, n)))


def remove_resolv_confs(names: Iterable[str], root: Path = ETC_NETNS) -> tuple[Path, ...]:
    """Remove ``<root>/<name>/resolv.conf`` (and the directory, once empty) for each name,
    and ``root`` itself when only the lab's marker is left in it. Returns what went."""
    removed: list[Path] = []
    for name in names:
        directory = _directory(root, name)
        path = directory / "resolv.conf"
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
        with contextlib.suppress(OSError):  # missing, or holding files that are not ours
            directory.rmdir()
            removed.append(directory)
    with contextlib.suppress(OSError):
        if os.listdir(root) == [MARKER]:
            (root / MARKER).unlink()
            root.rmdir()
            removed.append(root)
    return tuple(removed)
