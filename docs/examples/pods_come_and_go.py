"""Pods are replaced, and get new addresses; the Service's address does not change.

Run it from the repository root: python docs/examples/pods_come_and_go.py
"""

from k8s_service_lab import Cluster

cluster = Cluster()
cluster.apply("docs/examples/web.yaml")


def show(moment: str) -> None:
    web = cluster.get("services", "web")
    pods = [p for p in cluster.list("pods") if p.metadata.labels.get("app") == "web"]
    addresses = sorted(p.status.pod_ip for p in pods if p.status.pod_ip)
    print(f"{moment}: Service web = {web.spec.cluster_ip}, pods = {', '.join(addresses)}")


show("before")

# Delete one pod, as a node failure or an eviction would. Its ReplicaSet notices one pod
# missing and creates a replacement, which gets a fresh name and a fresh address.
victim = sorted(p.metadata.name for p in cluster.list("pods"))[0]
cluster.delete("pods", victim, grace_period_seconds=0)
print(f"deleted pod {victim}")

show("after ")
