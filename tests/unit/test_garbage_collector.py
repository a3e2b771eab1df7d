"""The model's garbage collector and ``Cluster.scale`` (``kubectl delete`` / ``kubectl scale``)."""

from __future__ import annotations

import pytest

from k8s_service_lab import Cluster
from k8s_service_lab.errors import ServiceLabError

WEB = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{port: 80}]}
"""


def _live_pods(cluster: Cluster) -> list[str]:
    return sorted(
        p.metadata.name
        for p in cluster.list("pods")
        if p.metadata.labels.get("app") == "web" and p.metadata.deletion_timestamp is None
    )


def test_deleting_a_deployment_takes_its_replicasets_and_pods() -> None:
    cluster = Cluster()
    cluster.apply(WEB)
    assert len(_live_pods(cluster)) == 3
    cluster.delete("deployments", "web")
    assert cluster.list("replicasets") == []
    assert _live_pods(cluster) == []
    # The pods terminate gracefully: they are gone once their grace period has passed.
    cluster.advance(31)
    assert [p for p in cluster.list("pods") if p.metadata.labels.get("app") == "web"] == []
    # The Service stays (it is nobody's dependent) and its slice lists no endpoint.
    [slice_] = [s for s in cluster.list("endpointslices") if s.metadata.name.startswith("web-")]
    assert slice_.endpoints == ()


def test_deleting_a_service_takes_its_endpointslices() -> None:
    cluster = Cluster()
    cluster.apply(WEB)
    cluster.delete("services", "web")
    assert not [s for s in cluster.list("endpointslices") if s.metadata.name.startswith("web-")]
    assert len(_live_pods(cluster)) == 3  # the pods belong to the ReplicaSet, not the Service


def test_scale_changes_replicas_like_kubectl_scale() -> None:
    cluster = Cluster()
    cluster.apply(WEB)
    cluster.scale("deployments", "web", 5)
    assert len(_live_pods(cluster)) == 5
    cluster.scale("deployments", "web", 1)
    assert len(_live_pods(cluster)) == 1
    with pytest.raises(ServiceLabError, match="replicas must be 0 or more"):
        cluster.scale("deployments", "web", -1)
    with pytest.raises(ServiceLabError, match="services cannot be scaled"):
        cluster.scale("services", "web", 2)
