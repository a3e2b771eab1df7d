"""The library in a few lines: apply manifests, read what the controllers did, trace a packet.

Run it from the repository root: python docs/examples/quickstart.py
"""

from k8s_service_lab import Cluster

cluster = Cluster()  # a fresh kind-shaped cluster: one control plane, two workers
cluster.apply(["docs/examples/web.yaml", "docs/examples/client.yaml"])  # like kubectl apply -f

web = cluster.get("services", "web")
print("web's ClusterIP:", web.spec.cluster_ip)

# The EndpointSlice controller lists the pods the selector matched.
for eps in cluster.list("endpointslices"):
    if eps.metadata.labels.get("kubernetes.io/service-name") == "web":
        print("endpoints:", ", ".join(ep.addresses[0] for ep in eps.endpoints))

# One new connection from the client pod, through the rules kube-proxy wrote on its node.
client = cluster.get("pods", "client")
result = cluster.trace(client.status.pod_ip, web.spec.cluster_ip, 80, node=client.spec.node_name)
print("verdict:", result.verdict, "masquerade:", result.masquerade)
for ip, port, probability in result.endpoints:
    print(f"  -> {ip}:{port} with probability {probability}")
