"""Reading kind cluster configs (kind.x-k8s.io/v1alpha4) and what follows from them (DESIGN §5)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from k8s_service_lab.config import (
    DEFAULT_NODE_PORT_RANGE,
    ClusterConfig,
    Networking,
    NodeConfig,
    PortMapping,
    PortRange,
    load_config,
    parse_config,
)
from k8s_service_lab.errors import ConfigError

HEAD = "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n"


def addresses(node_ips: tuple[object, ...]) -> list[str]:
    return [str(a) for a in node_ips]


def test_the_embedded_cluster():
    cfg = ClusterConfig.default()
    assert [(n.name, n.role, n.tainted) for n in cfg.cluster_nodes] == [
        ("kind-control-plane", "control-plane", True),
        ("kind-worker", "worker", False),
        ("kind-worker2", "worker", False),
    ]
    assert [str(n.internal_ip) for n in cfg.cluster_nodes] == [
        "172.18.0.2",
        "172.18.0.3",
        "172.18.0.4",
    ]
    assert [addresses(n.pod_cidrs) for n in cfg.cluster_nodes] == [
        ["10.244.0.0/24"],
        ["10.244.1.0/24"],
        ["10.244.2.0/24"],
    ]
    assert cfg.service_cidrs == (ipaddress.ip_network("10.96.0.0/16"),)
    assert cfg.pod_cidrs == (ipaddress.ip_network("10.244.0.0/16"),)
    assert (cfg.kubernetes_service_ip, cfg.dns_service_ip) == ("10.96.0.1", "10.96.0.10")
    assert cfg.node_port_range == PortRange(30000, 2768) == DEFAULT_NODE_PORT_RANGE
    assert str(cfg.node_port_range) == "30000-32767"
    assert cfg.networking == Networking(
        ip_family="ipv4",
        api_server_address="127.0.0.1",
        pod_subnet="10.244.0.0/16",
        service_subnet="10.96.0.0/16",
        kube_proxy_mode="iptables",
    )
    assert cfg.primary_family == "IPv4"
    assert not cfg.dual_stack
    assert cfg.node("kind-worker2").pod_cidrs == (ipaddress.ip_network("10.244.2.0/24"),)


@pytest.mark.parametrize("body", ["", "nodes: []\n", "nodes:\n"])
def test_a_file_without_nodes_is_one_control_plane_node_as_in_kind(body):
    cfg = parse_config(HEAD + body)
    assert [(n.name, n.tainted) for n in cfg.cluster_nodes] == [("kind-control-plane", False)]


def test_node_names_follow_kind():
    cfg = parse_config(
        HEAD
        + "name: lab\nnodes:\n"
        + "".join(
            f"- role: {role}\n"
            for role in ["control-plane", "worker", "control-plane", "worker", "worker"]
        )
    )
    assert [n.name for n in cfg.cluster_nodes] == [
        "lab-control-plane",
        "lab-worker",
        "lab-control-plane2",
        "lab-worker2",
        "lab-worker3",
    ]
    assert [str(n.internal_ip) for n in cfg.cluster_nodes] == [f"172.18.0.{i}" for i in range(2, 7)]
    assert [str(n.pod_cidrs[0]) for n in cfg.cluster_nodes] == [
        f"10.244.{i}.0/24" for i in range(5)
    ]


def test_a_node_without_role_is_a_control_plane_node():
    cfg = parse_config(HEAD + "nodes:\n- image: kindest/node:v1.34.0\n- role: worker\n")
    assert cfg.nodes[0] == NodeConfig(role="control-plane", image="kindest/node:v1.34.0")
    assert [n.name for n in cfg.cluster_nodes] == ["kind-control-plane", "kind-worker"]


@pytest.mark.parametrize(
    ("family", "pods", "services", "api", "node_ips", "node_pods", "k8s", "dns"),
    [
        (
            "ipv4",
            ("10.244.0.0/16",),
            ("10.96.0.0/16",),
            "127.0.0.1",
            ["172.18.0.3"],
            ["10.244.1.0/24"],
            "10.96.0.1",
            "10.96.0.10",
        ),
        (
            "ipv6",
            ("fd00:10:244::/56",),
            ("fd00:10:96::/112",),
            "::1",
            ["fc00:f853:ccd:e793::3"],
            ["fd00:10:244:1::/64"],
            "fd00:10:96::1",
            "fd00:10:96::a",
        ),
        (
            "dual",
            ("10.244.0.0/16", "fd00:10:244::/56"),
            ("10.96.0.0/16", "fd00:10:96::/112"),
            "127.0.0.1",
            ["172.18.0.3", "fc00:f853:ccd:e793::3"],
            ["10.244.1.0/24", "fd00:10:244:1::/64"],
            "10.96.0.1",
            "10.96.0.10",
        ),
    ],
)
def test_kind_defaults_per_ip_family(family, pods, services, api, node_ips, node_pods, k8s, dns):
    cfg = parse_config(
        HEAD
        + f"networking:\n  ipFamily: {family}\nnodes: [{{role: control-plane}}, {{role: worker}}]\n"
    )
    assert cfg.networking.pod_subnet == ",".join(pods)
    assert cfg.networking.service_subnet == ",".join(services)
    assert cfg.networking.api_server_address == api
    assert addresses(cfg.service_cidrs) == list(services)
    worker = cfg.node("kind-worker")
    assert addresses(worker.addresses) == node_ips
    assert addresses(worker.pod_cidrs) == node_pods
    assert (cfg.kubernetes_service_ip, cfg.dns_service_ip) == (k8s, dns)


def test_ipv6_primary_dual_stack_puts_ipv6_first():
    cfg = parse_config(
        HEAD
        + "networking:\n  ipFamily: dual\n"
        + "  podSubnet: fd00:10:244::/56,10.244.0.0/16\n"
        + "  serviceSubnet: fd00:10:96::/112,10.96.0.0/16\n"
    )
    assert cfg.primary_family == "IPv6"
    assert cfg.dual_stack
    node = cfg.cluster_nodes[0]
    assert addresses(node.addresses) == ["fc00:f853:ccd:e793::2", "172.18.0.2"]
    assert addresses(node.pod_cidrs) == ["fd00:10:244::/64", "10.244.0.0/24"]
    assert cfg.kubernetes_service_ip == "fd00:10:96::1"


def test_every_documented_field_is_read():
    cfg = parse_config(
        HEAD
        + """\
name: full
featureGates:
  AllBeta: false
runtimeConfig:
  api/alpha: "false"
kubeadmConfigPatches:
- |
  kind: ClusterConfiguration
kubeadmConfigPatchesJSON6902:
- {group: kubeadm.k8s.io, version: v1beta3, kind: ClusterConfiguration, patch: "[]"}
containerdConfigPatches:
- |-
  [plugins."io.containerd.grpc.v1.cri"]
networking:
  ipFamily: ipv4
  apiServerAddress: 0.0.0.0
  apiServerPort: 6443
  podSubnet: 10.200.0.0/16
  serviceSubnet: 10.100.0.0/20
  disableDefaultCNI: true
  kubeProxyMode: nftables
  dnsSearch: [example.com]
nodes:
- role: control-plane
  image: kindest/node:v1.34.0
  labels: {ingress-ready: "true", tier: 1}
  extraPortMappings:
  - {containerPort: 30080, hostPort: 8080, listenAddress: 127.0.0.1, protocol: TCP}
  extraMounts:
  - {containerPath: /foo, hostPath: /bar, readOnly: true, selinuxRelabel: false, propagation: None}
  kubeadmConfigPatches: ["kind: InitConfiguration"]
- role: worker
  gpus: all
"""
    )
    assert cfg.name == "full"
    assert cfg.feature_gates == {"AllBeta": False}
    assert cfg.runtime_config == {"api/alpha": "false"}
    assert cfg.kubeadm_config_patches == ("kind: ClusterConfiguration\n",)
    assert cfg.kubeadm_config_patches_json6902[0].group == "kubeadm.k8s.io"
    assert cfg.containerd_config_patches == ('[plugins."io.containerd.grpc.v1.cri"]',)
    net = cfg.networking
    assert (net.api_server_address, net.api_server_port, net.disable_default_cni) == (
        "0.0.0.0",
        6443,
        True,
    )
    assert (net.kube_proxy_mode, net.dns_search) == ("nftables", ("example.com",))
    assert str(cfg.service_cidrs[0]) == "10.100.0.0/20"
    assert cfg.dns_service_ip == "10.100.0.10"
    assert str(cfg.cluster_nodes[1].pod_cidrs[0]) == "10.200.1.0/24"
    control_plane = cfg.nodes[0]
    assert control_plane.labels == {"ingress-ready": "true", "tier": "1"}  # unquoted 1 is "1"
    assert control_plane.extra_port_mappings == (PortMapping(30080, 8080, "127.0.0.1", "TCP"),)
    assert control_plane.extra_mounts[0].read_only is True
    assert cfg.cluster_nodes[0].labels == {"ingress-ready": "true", "tier": "1"}
    assert cfg.nodes[1].gpus == "all"


def test_node_port_range_is_our_own_argument(tmp_path: Path):
    path = tmp_path / "kind.yaml"
    path.write_text(HEAD)
    cfg = load_config(path, node_port_range=PortRange.parse("30000-30099"))
    assert str(cfg.node_port_range) == "30000-30099"
    assert cfg.source == str(path)
    assert (
        ClusterConfig.default(node_port_range=PortRange(31000, 100)).node_port_range.last == 31099
    )


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("30000-32767", PortRange(30000, 2768)),
        ("30080", PortRange(30080, 1)),
        ("32767-30000", "end before start"),
        ("a-b", "invalid port range"),
        ("0-10", "invalid port range"),
        ("65000-65536", "invalid port range"),
    ],
)
def test_port_range_parse(text, error):
    if isinstance(error, PortRange):
        assert PortRange.parse(text) == error
    else:
        with pytest.raises(ValueError, match=error):
            PortRange.parse(text)


# --- what kind refuses, and where ----------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(
            "networking:\n  podsubnet: 10.0.0.0/16\n",
            'kind.yaml:4: networking.podsubnet: unknown field (did you mean "podSubnet"?)',
            id="unknown-field-case",
        ),
        pytest.param(
            "networkin:\n  podSubnet: 10.0.0.0/16\n",
            "kind.yaml:3: networkin: unknown field (known fields: apiVersion, containerdConfigPatches, "
            "containerdConfigPatchesJSON6902, featureGates, kind, kubeadmConfigPatches, "
            "kubeadmConfigPatchesJSON6902, name, networking, nodes, runtimeConfig)",
            id="unknown-top-level-field",
        ),
        pytest.param(
            "nodes:\n- role: worker\n- role: control-plane\n  extraPortMapping: []\n",
            "kind.yaml:6: nodes[1].extraPortMapping: unknown field (known fields: extraMounts, "
            "extraPortMappings, gpus, image, kubeadmConfigPatches, kubeadmConfigPatchesJSON6902, "
            "labels, role)",
            id="unknown-node-field",
        ),
        pytest.param(
            "nodes:\n- extraMounts:\n  - {hostpath: /x}\n",
            'kind.yaml:5: nodes[0].extraMounts[0].hostpath: unknown field (did you mean "hostPath"?)',
            id="unknown-mount-field",
        ),
        pytest.param(
            "networking:\n  podSubnet: 10.244.0.0/33\n",
            'kind.yaml:4: networking.podSubnet: invalid CIDR "10.244.0.0/33"',
            id="bad-cidr",
        ),
        pytest.param(
            "networking:\n  serviceSubnet: 10.96.0.0\n",
            'kind.yaml:4: networking.serviceSubnet: invalid CIDR "10.96.0.0"',
            id="cidr-without-prefix",
        ),
        pytest.param(
            "networking:\n  ipFamily: ipv6\n  serviceSubnet: 10.96.0.0/16\n",
            'kind.yaml:5: networking.serviceSubnet: "10.96.0.0/16": expected IPv6 CIDR for IPv6 family',
            id="family-mismatch-v6",
        ),
        pytest.param(
            "networking:\n  podSubnet: fd00:10:244::/56\n",
            'kind.yaml:4: networking.podSubnet: "fd00:10:244::/56": expected IPv4 CIDR for IPv4 family',
            id="family-mismatch-v4",
        ),
        pytest.param(
            "networking:\n  serviceSubnet: 10.96.0.0/16,fd00:10:96::/112\n",
            'kind.yaml:4: networking.serviceSubnet: "10.96.0.0/16,fd00:10:96::/112": '
            "only one CIDR allowed for single-stack networking",
            id="two-cidrs-single-stack",
        ),
        pytest.param(
            "networking:\n  ipFamily: dual\n  serviceSubnet: 10.96.0.0/16,10.97.0.0/16\n",
            'kind.yaml:5: networking.serviceSubnet: "10.96.0.0/16,10.97.0.0/16": expected one '
            "(IPv4 or IPv6) CIDR or two CIDRs from each family for dual-stack networking",
            id="dual-same-family",
        ),
        pytest.param(
            "networking:\n  serviceSubnet: 10.0.0.0/8\n",
            'kind.yaml:4: networking.serviceSubnet: "10.0.0.0/8" is too large: specified '
            "--service-cluster-ip-range is too large; for 32-bit addresses, the mask must be >= 12",
            id="service-subnet-too-large-v4",
        ),
        pytest.param(
            "networking:\n  ipFamily: dual\n  serviceSubnet: 10.96.0.0/16,fd00:10:96::/64\n",
            'kind.yaml:5: networking.serviceSubnet: "fd00:10:96::/64" is too large: specified '
            "--service-cluster-ip-range[1] is too large; for 128-bit addresses, the mask must be >= 108",
            id="service-subnet-too-large-v6",
        ),
        pytest.param(
            "networking:\n  ipFamily: ipv5\n",
            'kind.yaml:4: networking.ipFamily: invalid ipFamily "ipv5" (one of ipv4, ipv6, dual)',
            id="bad-ip-family",
        ),
        pytest.param(
            "networking:\n  kubeProxyMode: userspace\n",
            'kind.yaml:4: networking.kubeProxyMode: invalid kubeProxyMode "userspace" '
            "(one of iptables, nftables, ipvs, none)",
            id="bad-proxy-mode",
        ),
        pytest.param(
            "nodes:\n- role: worker\n",
            "kind.yaml:3: nodes: must have at least one control-plane node",
            id="no-control-plane",
        ),
        pytest.param(
            "nodes:\n- role: control-plane\n- role: master\n",
            'kind.yaml:5: nodes[1].role: "master" is not a valid node role (control-plane or worker)',
            id="bad-role",
        ),
        pytest.param(
            "name: My_Cluster\n",
            'kind.yaml:3: name: "My_Cluster" is not a valid cluster name, cluster names must match '
            "`^[a-z0-9.-]+$`",
            id="bad-name",
        ),
        pytest.param(
            "networking:\n  apiServerPort: 70000\n",
            "kind.yaml:4: networking.apiServerPort: invalid port number: 70000",
            id="bad-api-port",
        ),
        pytest.param(
            "networking:\n  apiServerPort: high\n",
            'kind.yaml:4: networking.apiServerPort: expected an integer, got "high"',
            id="wrong-type",
        ),
        pytest.param(
            "networking:\n  disableDefaultCNI: yes please\n",
            'kind.yaml:4: networking.disableDefaultCNI: expected true or false, got "yes please"',
            id="wrong-type-bool",
        ),
        pytest.param(
            "nodes:\n  role: worker\n",
            "kind.yaml:3: nodes: expected a list, got a mapping",
            id="nodes-not-a-list",
        ),
        pytest.param(
            "nodes:\n- role: control-plane\n  extraPortMappings:\n  - {hostPort: 99999}\n",
            "kind.yaml:6: nodes[0].extraPortMappings[0].hostPort: invalid port number: 99999",
            id="bad-host-port",
        ),
        pytest.param(
            "networking:\n  podSubnet: 10.244.0.0/23\nnodes: [{role: control-plane}, {role: worker}, {role: worker}]\n",
            'kind.yaml:4: networking.podSubnet: "10.244.0.0/23" has room for 2 node CIDRs of /24 '
            "(kube-controller-manager's --node-cidr-mask-size-ipv4), but the cluster has 3 nodes",
            id="pod-subnet-too-small",
        ),
        pytest.param(
            "name: a\nname: b\n",
            'kind.yaml:4: name: mapping key "name" already defined at line 3',
            id="duplicate-key",
        ),
        pytest.param(
            "nodes: [\n",
            "kind.yaml:4: malformed YAML: expected the node content, but found '<stream end>'",
            id="malformed-yaml",
        ),
        pytest.param(
            "networking:\n\tpodSubnet: x\n",
            "kind.yaml:4: malformed YAML: found character '\\t' that cannot start any token",
            id="tab-indent",
        ),
    ],
)
def test_what_kind_refuses(body, message):
    with pytest.raises(ConfigError) as err:
        parse_config(HEAD + body, source="kind.yaml")
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha3\n",
            'kind.yaml:2: apiVersion: unknown apiVersion "kind.x-k8s.io/v1alpha3", '
            'expected "kind.x-k8s.io/v1alpha4"',
        ),
        (
            "kind: Cluster\n",
            'kind.yaml: apiVersion: unknown apiVersion null, expected "kind.x-k8s.io/v1alpha4"',
        ),
        (
            "kind: Pod\napiVersion: kind.x-k8s.io/v1alpha4\n",
            'kind.yaml:1: kind: unknown kind "Pod" for apiVersion kind.x-k8s.io/v1alpha4, expected "Cluster"',
        ),
        ("", "kind.yaml: expected a kind Cluster config (a YAML mapping), got null"),
        ("- a\n- b\n", "kind.yaml: expected a kind Cluster config (a YAML mapping), got a list"),
        ("---\na: 1\n---\nb: 2\n", "kind.yaml:3: malformed YAML: but found another document"),
    ],
)
def test_wrong_kind_or_api_version(text, message):
    with pytest.raises(ConfigError) as err:
        parse_config(text, source="kind.yaml")
    assert str(err.value) == message


def test_every_problem_kind_sees_is_reported_at_once():
    with pytest.raises(ConfigError) as err:
        parse_config(
            HEAD + "networking:\n  ipFamily: ipv5\n  kubeProxyMode: x\nnodes:\n- role: worker\n",
            source="k.yaml",
        )
    assert str(err.value).splitlines() == [
        'k.yaml:4: networking.ipFamily: invalid ipFamily "ipv5" (one of ipv4, ipv6, dual)',
        'k.yaml:5: networking.kubeProxyMode: invalid kubeProxyMode "x" (one of iptables, nftables, ipvs, none)',
        "k.yaml:6: nodes: must have at least one control-plane node",
    ]


def test_direct_construction_is_validated_too():
    with pytest.raises(
        ConfigError, match=r"^<config>: networking.podSubnet: invalid CIDR \"nope\"$"
    ):
        ClusterConfig(networking=Networking(pod_subnet="nope"))
    assert ClusterConfig(networking=Networking(ip_family="ipv6")).primary_family == "IPv6"


def test_from_dict_reads_decoded_yaml():
    cfg = ClusterConfig.from_dict(
        {
            "kind": "Cluster",
            "apiVersion": "kind.x-k8s.io/v1alpha4",
            "nodes": [{"role": "control-plane"}],
        },
        source="inline",
    )
    assert cfg.source == "inline"
    assert [n.name for n in cfg.cluster_nodes] == ["kind-control-plane"]


def test_a_missing_file_is_a_config_error(tmp_path: Path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=f"^{missing}: cannot read kind config: "):
        load_config(missing)


def test_configs_compare_by_content_not_by_source():
    assert parse_config(HEAD, source="a.yaml") == parse_config(HEAD, source="b.yaml")
