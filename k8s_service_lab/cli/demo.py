"""``ksl demo``: a guided tour of one Service, from manifest to the packet that reaches a pod.

On the embedded kind-shaped cluster (three nodes, as ``kind create cluster`` with two workers
makes them) the tour applies a three-replica Deployment and a ClusterIP Service, then shows,
step by step, what each part of Kubernetes did with them: the apiserver's allocation, the
scheduler's and kubelet's pods, the EndpointSlice controller's slice, kube-proxy's rules on
one node, and finally one traced packet from a client pod. Every figure on the way comes from
the model — nothing in the text is canned except the explanations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from k8s_service_lab.cluster import Cluster
    from k8s_service_lab.netfilter import Ruleset
    from k8s_service_lab.tracer import TraceReport

MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: registry.k8s.io/e2e-test-images/agnhost:2.53
        args: [netexec, --http-port=8080]
        ports: [{containerPort: 8080, name: http}]
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: default
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http}
---
apiVersion: v1
kind: Pod
metadata:
  name: client
  namespace: default
spec:
  nodeName: kind-worker2
  containers:
  - {name: client, image: registry.k8s.io/e2e-test-images/agnhost:2.53}
"""


def run_demo(seed: int) -> int:
    from k8s_service_lab.cluster import Cluster

    cluster = Cluster(seed=seed)
    for step in tour(cluster):
        typer.echo(step)
    return 0


def tour(cluster: Cluster) -> list[str]:
    """The tour's sections, in order (``cluster`` is fresh; the demo objects are applied)."""
    from k8s_service_lab.netfilter import Ruleset
    from k8s_service_lab.printers import table

    out = [
        _title("0. A fresh kind cluster"),
        "Three nodes, as `kind create cluster` makes them with two workers. Pods get IPs from\n"
        "10.244.0.0/16 (a /24 per node), Services from 10.96.0.0/16.\n",
        table(cluster.list("Node"), now=cluster.now()),
        "\n".join(
            f"{n.name}: node IP {n.internal_ip}, pod CIDR {n.pod_cidrs[0]}"
            for n in cluster.config.cluster_nodes
        ),
        _title("1. The manifests"),
        "A Deployment of three agnhost pods serving HTTP on port 8080 (named `http`), a\n"
        "Service selecting them on port 80 → targetPort `http`, and a client pod.\n",
        MANIFEST,
    ]
    cluster.apply(MANIFEST)
    svc = cluster.get("Service", "web")
    out += [
        _title("2. The apiserver allocates a ClusterIP"),
        f"The Service got ClusterIP {svc.spec.cluster_ip}, picked at random above the first 256\n"
        "addresses of 10.96.0.0/16, which are kept for Services that ask for a fixed IP\n"
        "(like kube-dns's 10.96.0.10).\n",
        table([svc], now=cluster.now()),
    ]
    pods = [p for p in cluster.list("Pod") if p.metadata.labels.get("app") == "web"]
    out += [
        _title("3. The scheduler places the pods; kubelet gives them IPs"),
        "The control-plane node is tainted, so the pods spread over the two workers; each\n"
        "pod's IP comes from its node's /24.\n",
        table(cluster.list("Pod"), now=cluster.now(), wide=True),
    ]
    slices = [
        s
        for s in cluster.list("EndpointSlice")
        if s.metadata.labels.get("kubernetes.io/service-name") == "web"
    ]
    out += [
        _title("4. The EndpointSlice controller lists the ready pods"),
        f"One slice, named after the Service plus a random suffix, holds the {len(pods)} pods'\n"
        "IPs, the resolved target port (8080: `http` looked up in each pod) and each pod's\n"
        "node and zone. kube-proxy on every node watches these slices.\n",
        table(slices, now=cluster.now()),
    ]
    client = cluster.get("Pod", "client")
    node = client.spec.node_name
    payload = cluster.render("iptables", node)
    assert isinstance(payload, Ruleset)
    out += [
        _title(f"5. kube-proxy writes iptables rules on {node} (and every node)"),
        "Of everything kube-proxy loads (`ksl render` prints it all), these rules are the\n"
        "Service's. Read them top to bottom, as the kernel does:\n",
        _service_rules(payload, "default/web"),
        "",
        "- KUBE-SERVICES matches the ClusterIP and port and jumps to the Service's KUBE-SVC chain.",
        "- Its first rule marks packets not from a pod (! -s 10.244.0.0/16) for masquerading.",
        "- Then one rule per endpoint: the first matches 1/3 of new connections, the second 1/2",
        "  of the rest, the last all that remain — so each pod gets exactly 1/3.",
        "- Each KUBE-SEP chain DNATs to one pod's IP:port (and marks hairpin traffic).",
    ]
    report = _trace(cluster, client.status.pod_ip, svc.spec.cluster_ip, node)
    out += [
        _title("6. A packet from the client pod"),
        f"The client ({client.status.pod_ip} on {node}) opens a TCP\n"
        f"connection to {svc.spec.cluster_ip}:80. Its node's rules decide where it goes:\n",
        report.to_text(width=110),
        _title("Next"),
        "  (save the manifests of step 1 as demo.yaml)",
        "  ksl trace -f demo.yaml --src pod/default/client --dst svc/default/web   this trace",
        f"  ksl render --node {node} --explain     every chain on a node, and its purpose",
        "  ksl explain service kube-dns -n kube-system  why a Service has these endpoints",
        "  ksl get endpointslices -A -o wide            what kube-proxy reads",
    ]
    return out


def _title(text: str) -> str:
    return f"\n== {text} ==\n"


def _service_rules(payload: Ruleset, service: str) -> str:
    """The nat rules of one Service (its KUBE-SERVICES entry and its own chains)."""
    from k8s_service_lab.netfilter import Comment, Jump, rule_text

    nat = next(t for t in payload.tables if t.name == "nat")
    chains: set[str] = set()
    lines = []
    by_chain = nat.rules_by_chain()
    for rule in by_chain.get("KUBE-SERVICES", ()):
        comments = [m.text for m in rule.matches if isinstance(m, Comment)]
        if comments and comments[0].startswith(service) and isinstance(rule.target, Jump):
            lines.append(rule_text(rule))
            chains.add(rule.target.chain)
    # Follow the jumps: KUBE-SVC-… to its KUBE-SEP-… chains.
    pending = sorted(chains)
    while pending:
        chain = pending.pop(0)
        for rule in by_chain.get(chain, ()):
            lines.append(rule_text(rule))
            target = rule.target
            if (
                isinstance(target, Jump)
                and target.chain.startswith("KUBE-SEP-")
                and target.chain not in chains
            ):
                chains.add(target.chain)
                pending.append(target.chain)
    return "\n".join(lines)


def _trace(cluster: Cluster, src: str, dst: str, node: str) -> TraceReport:
    from k8s_service_lab.cli.trace import TraceRequest, trace_on_cluster

    request = TraceRequest(src, dst, 80, "tcp", 40000, node)
    return trace_on_cluster(cluster, request, "iptables", "intended")
