"""The cluster's shape, read from a kind config (``kind.x-k8s.io/v1alpha4``) with kind's defaults.

The same file drives the simulator, the network-namespace lab and a real kind cluster, so it is
read exactly as kind reads it (strict: unknown fields are errors) and defaulted as kind
defaults it. From it follow the things every other room needs: node names and addresses, pod
CIDRs per node, the service CIDRs, the NodePort range and the well-known Service IPs::

    >>> from k8s_service_lab.config import parse_config
    >>> cfg = parse_config('''
    ... kind: Cluster
    ... apiVersion: kind.x-k8s.io/v1alpha4
    ... nodes: [{role: control-plane}, {role: worker}]
    ... ''')
    >>> [n.name for n in cfg.cluster_nodes]
    ['kind-control-plane', 'kind-worker']
    >>> [(str(n.internal_ip), str(n.pod_cidrs[0])) for n in cfg.cluster_nodes]
    [('172.18.0.2', '10.244.0.0/24'), ('172.18.0.3', '10.244.1.0/24')]
    >>> cfg.kubernetes_service_ip, cfg.dns_service_ip, str(cfg.node_port_range)
    ('10.96.0.1', '10.96.0.10', '30000-32767')

Derived facts, and where they come from (DESIGN §5):

- nodes are named as kind names them: ``<name>-control-plane``, ``<name>-control-plane2``, …,
  ``<name>-worker``, ``<name>-worker2``, …; a file without ``nodes`` gives one control-plane
  node (kind's default), while :meth:`ClusterConfig.default` is our embedded cluster of one
  control-plane and two workers. Control-plane nodes carry the NoSchedule taint unless the
  cluster has no worker (kind then removes it).
- node addresses come from the ``kind`` docker network, in node order: 172.18.0.2, .3, …
  (IPv6: fc00:f853:ccd:e793::2, …), the primary family first. (Real docker assigns them in
  container start order, which kind does not fix; with several control-plane nodes kind's
  load-balancer container takes an address too. We keep node order.)
- each node gets the next pod CIDR in node order: a /24 per node from an IPv4 pod subnet and
  a /64 from an IPv6 one (kube-controller-manager's default ``--node-cidr-mask-size``).
- the primary service CIDR gives ``default/kubernetes`` its index-1 IP and ``kube-dns`` the
  index-10 IP (10.96.0.1 and 10.96.0.10 by default).
- the NodePort range is not part of a kind file; pass ``node_port_range=`` to override
  ``30000-32767``.

Anything kind would refuse raises :class:`~k8s_service_lab.errors.ConfigError` naming the file,
line and field: ``kind.yaml:5: networking.podSubnet: invalid CIDR "10.244.0.0/33"``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

from k8s_service_lab.errors import ConfigError

__all__ = [
    "API_VERSION",
    "DEFAULT_NODE_PORT_RANGE",
    "ClusterConfig",
    "ClusterNode",
    "Mount",
    "Networking",
    "NodeConfig",
    "PatchJSON6902",
    "PortMapping",
    "PortRange",
    "load_config",
    "parse_config",
]

IP: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
_T = TypeVar("_T")

API_VERSION = "kind.x-k8s.io/v1alpha4"
ROLES = ("control-plane", "worker")
IP_FAMILIES = ("ipv4", "ipv6", "dual")
PROXY_MODES = ("iptables", "nftables", "ipvs", "none")
#: kind's defaults per ``ipFamily``: (apiServerAddress, podSubnet, serviceSubnet).
KIND_DEFAULTS = {
    "ipv4": ("127.0.0.1", "10.244.0.0/16", "10.96.0.0/16"),
    "ipv6": ("::1", "fd00:10:244::/56", "fd00:10:96::/112"),
    "dual": ("127.0.0.1", "10.244.0.0/16,fd00:10:244::/56", "10.96.0.0/16,fd00:10:96::/112"),
}
#: The ``kind`` docker network that node containers join.
KIND_NETWORKS = (
    ipaddress.IPv4Network("172.18.0.0/16"),
    ipaddress.IPv6Network("fc00:f853:ccd:e793::/64"),
)
#: kube-controller-manager's default ``--node-cidr-mask-size-ipv4`` / ``-ipv6``.
NODE_CIDR_MASK = {4: 24, 6: 64}
#: kube-apiserver's cap on the service range: at most 20 host bits (control-plane sheet §2.1).
MAX_SERVICE_HOST_BITS = 20
_NAME_RE = re.compile(r"^[a-z0-9.-]+$")
_CIDR_RE = re.compile(r"^[^/]+/[0-9]+$")
_DUAL_SUBNETS = (
    "expected one (IPv4 or IPv6) CIDR or two CIDRs from each family for dual-stack networking"
)


@dataclass(frozen=True, slots=True)
class PortRange:
    """A port range as apimachinery's ``net.PortRange``: ``base`` and ``size`` ports.

    >>> r = PortRange.parse("30000-32767")
    >>> r, r.last, 30085 in r, str(r)
    (PortRange(base=30000, size=2768), 32767, True, '30000-32767')
    """

    base: int
    size: int

    def __post_init__(self) -> None:
        if self.base < 1 or self.size < 1 or self.base + self.size - 1 > 65535:
            raise ValueError(f"invalid port range: base={self.base}, size={self.size}")

    @classmethod
    def parse(cls, text: str) -> PortRange:
        """``"30000-32767"`` (both ends included) or a single ``"30000"``."""
        low, _, high = text.strip().partition("-")
        try:
            first, last = int(low), int(high or low)
        except ValueError:
            raise ValueError(f"invalid port range {text!r}") from None
        if last < first:
            raise ValueError(f"invalid port range {text!r}: end before start")
        return cls(first, last - first + 1)

    @property
    def last(self) -> int:
        return self.base + self.size - 1

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.base <= port <= self.last

    def __str__(self) -> str:
        return f"{self.base}-{self.last}"


DEFAULT_NODE_PORT_RANGE = PortRange(30000, 2768)


@dataclass(frozen=True, slots=True)
class Mount:
    """``nodes[].extraMounts[]`` (accepted and kept; the simulator mounts nothing)."""

    container_path: str | None = None
    host_path: str | None = None
    read_only: bool | None = None
    selinux_relabel: bool | None = None
    propagation: str | None = None


@dataclass(frozen=True, slots=True)
class PortMapping:
    """``nodes[].extraPortMappings[]``: a host port forwarded into the node container."""

    container_port: int | None = None
    host_port: int | None = None
    listen_address: str | None = None
    protocol: str | None = None


@dataclass(frozen=True, slots=True)
class PatchJSON6902:
    """An RFC 6902 patch for the generated kubeadm config (accepted and kept)."""

    group: str | None = None
    version: str | None = None
    kind: str | None = None
    patch: str | None = None


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """One entry of ``nodes:`` as written (``role`` defaults to control-plane, as in kind)."""

    role: str = "control-plane"
    image: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    extra_mounts: tuple[Mount, ...] = ()
    extra_port_mappings: tuple[PortMapping, ...] = ()
    gpus: str | None = None
    kubeadm_config_patches: tuple[str, ...] = ()
    kubeadm_config_patches_json6902: tuple[PatchJSON6902, ...] = ()


@dataclass(frozen=True, slots=True)
class Networking:
    """``networking:``. Subnets are kind's comma-separated strings, primary family first.

    ``None`` for ``api_server_address``, ``pod_subnet`` or ``service_subnet`` means "kind's
    default for this ``ip_family``" and is filled in at construction, as kind's defaulting
    does. ``api_server_port`` ``None`` means a random host port (kind treats 0 the same).
    """

    ip_family: str = "ipv4"
    api_server_address: str | None = None
    api_server_port: int | None = None
    pod_subnet: str | None = None
    service_subnet: str | None = None
    disable_default_cni: bool = False
    kube_proxy_mode: str = "iptables"
    dns_search: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        defaults = KIND_DEFAULTS.get(self.ip_family, KIND_DEFAULTS["ipv4"])
        for name, default in zip(
            ("api_server_address", "pod_subnet", "service_subnet"), defaults, strict=True
        ):
            if getattr(self, name) is None:
                object.__setattr__(self, name, default)
        if self.api_server_port == 0:
            object.__setattr__(self, "api_server_port", None)


@dataclass(frozen=True, slots=True)
class ClusterNode:
    """A node as the cluster sees it: kind's name, addresses and pod CIDRs (primary first)."""

    name: str
    role: str
    labels: Mapping[str, str]
    addresses: tuple[IP, ...]
    pod_cidrs: tuple[Network, ...]
    #: Carries ``node-role.kubernetes.io/control-plane:NoSchedule``.
    tainted: bool

    @property
    def internal_ip(self) -> IP:
        return self.addresses[0]

    @property
    def is_control_plane(self) -> bool:
        return self.role == "control-plane"


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """A kind cluster config, validated and defaulted, with the derived facts as attributes.

    ``source`` names the file and ``lines`` maps field paths (``networking.podSubnet``) to the
    line they were written on, both for error messages. ``service_cidrs``, ``pod_cidrs`` and
    ``cluster_nodes`` are derived at construction, which raises :class:`ConfigError` listing
    everything kind would refuse.
    """

    name: str = "kind"
    nodes: tuple[NodeConfig, ...] = (NodeConfig(),)
    networking: Networking = field(default_factory=Networking)
    feature_gates: Mapping[str, bool] = field(default_factory=dict)
    runtime_config: Mapping[str, str] = field(default_factory=dict)
    kubeadm_config_patches: tuple[str, ...] = ()
    kubeadm_config_patches_json6902: tuple[PatchJSON6902, ...] = ()
    containerd_config_patches: tuple[str, ...] = ()
    containerd_config_patches_json6902: tuple[str, ...] = ()
    node_port_range: PortRange = DEFAULT_NODE_PORT_RANGE
    source: str | None = field(default=None, compare=False)
    lines: Mapping[str, int] = field(default_factory=dict, repr=False, compare=False)
    service_cidrs: tuple[Network, ...] = field(init=False, repr=False, compare=False)
    pod_cidrs: tuple[Network, ...] = field(init=False, repr=False, compare=False)
    cluster_nodes: tuple[ClusterNode, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # The checks of kind's Cluster.Validate, in its order, plus the apiserver's cap on
        # the service range and the node-CIDR room kube-controller-manager needs.
        problems: list[str] = []

        def bad(path: str, detail: str) -> None:
            problems.append(where(self.source, self.lines, path, detail))

        net = self.networking
        if not _NAME_RE.match(self.name):
            bad(
                "name",
                f'"{self.name}" is not a valid cluster name, cluster names must match '
                f"`{_NAME_RE.pattern}`",
            )
        if net.api_server_port is not None and not -1 <= net.api_server_port <= 65535:
            bad("networking.apiServerPort", f"invalid port number: {net.api_server_port}")
        if net.ip_family not in IP_FAMILIES:
            bad(
                "networking.ipFamily",
                f'invalid ipFamily "{net.ip_family}" (one of {", ".join(IP_FAMILIES)})',
            )
        pods = self._subnets("networking.podSubnet", net.pod_subnet or "", bad)
        services = self._subnets("networking.serviceSubnet", net.service_subnet or "", bad)
        for i, cidr in enumerate(services):
            if cidr.max_prefixlen - cidr.prefixlen > MAX_SERVICE_HOST_BITS:
                flag = "--service-cluster-ip-range" + ("[1]" if i else "")
                bad(
                    "networking.serviceSubnet",
                    f'"{cidr}" is too large: specified {flag} is '
                    f"too large; for {cidr.max_prefixlen}-bit addresses, the mask must be >= "
                    f"{cidr.max_prefixlen - MAX_SERVICE_HOST_BITS}",
                )
        if net.kube_proxy_mode not in PROXY_MODES:
            bad(
                "networking.kubeProxyMode",
                f'invalid kubeProxyMode "{net.kube_proxy_mode}" (one of {", ".join(PROXY_MODES)})',
            )
        for i, node in enumerate(self.nodes):
            if node.role not in ROLES:
                bad(
                    f"nodes[{i}].role",
                    f'"{node.role}" is not a valid node role (control-plane or worker)',
                )
            for j, mapping in enumerate(node.extra_port_mappings):
                for port, word in (
                    (mapping.host_port, "hostPort"),
                    (mapping.container_port, "containerPort"),
                ):
                    if port is not None and not -1 <= port <= 65535:
                        bad(
                            f"nodes[{i}].extraPortMappings[{j}].{word}",
                            f"invalid port number: {port}",
                        )
        if not any(node.role == "control-plane" for node in self.nodes):
            bad("nodes", "must have at least one control-plane node")
        for cidr in pods if not problems else ():
            mask = NODE_CIDR_MASK[cidr.version]
            room = 2 ** (mask - cidr.prefixlen) if cidr.prefixlen <= mask else 0
            if room < len(self.nodes):
                bad(
                    "networking.podSubnet",
                    f'"{cidr}" has room for {room} node CIDRs of '
                    f"/{mask} (kube-controller-manager's --node-cidr-mask-size-ipv"
                    f"{cidr.version}), but the cluster has {len(self.nodes)} nodes",
                )
        if problems:
            raise ConfigError("\n".join(problems))
        object.__setattr__(self, "service_cidrs", tuple(services))
        object.__setattr__(self, "pod_cidrs", tuple(pods))
        object.__setattr__(self, "cluster_nodes", self._derive_nodes())

    @classmethod
    def default(cls, *, node_port_range: PortRange = DEFAULT_NODE_PORT_RANGE) -> ClusterConfig:
        """The embedded cluster (DESIGN §5): one control-plane node and two workers."""
        nodes = (NodeConfig("control-plane"), NodeConfig("worker"), NodeConfig("worker"))
        return cls(nodes=nodes, node_port_range=node_port_range)

    @classmethod
    def from_dict(
        cls,
        data: object,
        *,
        source: str | None = None,
        lines: Mapping[str, int] | None = None,
        node_port_range: PortRange = DEFAULT_NODE_PORT_RANGE,
    ) -> ClusterConfig:
        """Build from decoded YAML (a ``dict``), strictly: unknown fields are errors."""
        from k8s_service_lab.config_reader import ConfigReader

        return ConfigReader(source, lines or {}).cluster(data, node_port_range)

    @property
    def primary_family(self) -> str:
        """``IPv4`` or ``IPv6``: the family of the first service CIDR."""
        return "IPv4" if self.service_cidrs[0].version == 4 else "IPv6"

    @property
    def dual_stack(self) -> bool:
        return len(self.service_cidrs) == 2

    @property
    def kubernetes_service_ip(self) -> str:
        """``default/kubernetes``'s ``spec.clusterIP``: index 1 of the primary service CIDR."""
        return str(self.service_cidrs[0].network_address + 1)

    @property
    def dns_service_ip(self) -> str:
        """``kube-system/kube-dns``'s ``spec.clusterIP``: index 10, by installers' convention."""
        return str(self.service_cidrs[0].network_address + 10)

    def node(self, name: str) -> ClusterNode:
        """The node called ``name`` (``KeyError`` if there is none)."""
        for node in self.cluster_nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def _subnets(self, path: str, text: str, bad: Any) -> list[Network]:
        """Parse one comma-separated subnet list and check it as kind's validateSubnets does."""
        cidrs: list[Network] = []
        for part in text.split(","):
            # Like Go's net.ParseCIDR: the prefix length is required and spaces are not trimmed.
            try:
                if not _CIDR_RE.match(part):
                    raise ValueError(part)
                cidrs.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                bad(path, f'invalid CIDR "{part}"')
                return []
        family, versions = self.networking.ip_family, [c.version for c in cidrs]
        detail = None
        if family == "dual" and (len(cidrs) > 2 or (len(cidrs) == 2 and len(set(versions)) == 1)):
            detail = _DUAL_SUBNETS
        elif family != "dual" and len(cidrs) > 1:
            detail = "only one CIDR allowed for single-stack networking"
        elif family == "ipv4" and versions[0] != 4:
            detail = "expected IPv4 CIDR for IPv4 family"
        elif family == "ipv6" and versions[0] != 6:
            detail = "expected IPv6 CIDR for IPv6 family"
        if detail:
            bad(path, f'"{text}": {detail}')
            return []
        return cidrs

    def _derive_nodes(self) -> tuple[ClusterNode, ...]:
        order = [cidr.version for cidr in self.service_cidrs]  # primary family first
        networks = [n for v in order for n in KIND_NETWORKS if n.version == v]
        pods = sorted(
            self.pod_cidrs, key=lambda c: order.index(c.version) if c.version in order else 2
        )
        workers = sum(node.role == "worker" for node in self.nodes)
        seen: dict[str, int] = {}
        out = []
        for i, node in enumerate(self.nodes):
            seen[node.role] = seen.get(node.role, 0) + 1
            suffix = "" if seen[node.role] == 1 else str(seen[node.role])
            out.append(
                ClusterNode(
                    name=f"{self.name}-{node.role}{suffix}",
                    role=node.role,
                    labels=dict(node.labels),
                    addresses=tuple(n.network_address + 2 + i for n in networks),
                    pod_cidrs=tuple(_nth_subnet(c, NODE_CIDR_MASK[c.version], i) for c in pods),
                    tainted=node.role == "control-plane" and workers > 0,
                )
            )
        return tuple(out)


def _nth_subnet(cidr: Network, prefixlen: int, n: int) -> Network:
    """The ``n``-th ``/prefixlen`` inside ``cidr`` (what the node CIDR allocator hands out)."""
    start = int(cidr.network_address) + (n << (cidr.max_prefixlen - prefixlen))
    return type(cidr)((start, prefixlen))


def where(source: str | None, lines: Mapping[str, int], path: str, detail: str) -> str:
    line = lines.get(path)
    where = (source or "<config>") + (f":{line}" if line else "")
    return f"{where}: {path}: {detail}" if path else f"{where}: {detail}"


def parse_config(
    text: str, *, source: str = "<string>", node_port_range: PortRange = DEFAULT_NODE_PORT_RANGE
) -> ClusterConfig:
    """Read a kind config from YAML text; ``source`` names it in error messages."""
    from k8s_service_lab.config_reader import load_yaml

    data, lines = load_yaml(text, source)
    return ClusterConfig.from_dict(
        data, source=source, lines=lines, node_port_range=node_port_range
    )


def load_config(
    path: str | Path, *, node_port_range: PortRange = DEFAULT_NODE_PORT_RANGE
) -> ClusterConfig:
    """Read a kind config file, as ``kind create cluster --config PATH`` would."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read kind config: {err}") from err
    return parse_config(text, source=str(path), node_port_range=node_port_range)
