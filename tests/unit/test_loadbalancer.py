"""The LoadBalancer controller over the APIServer (sheet §7, §8.9)."""

from __future__ import annotations

import textwrap
from dataclasses import replace

import pytest

from k8s_service_lab.allocators.lbpool import LoadBalancerPool
from k8s_service_lab.api import Service
from k8s_service_lab.api.decode import decode_text
from k8s_service_lab.api.service import LoadBalancerIngress, PortStatus
from k8s_service_lab.config import ClusterConfig
from k8s_service_lab.controlplane.apiserver import APIServer
from k8s_service_lab.controlplane.controllers import Controller, ControllerManager
from k8s_service_lab.controlplane.controllers.loadbalancer import (
    LoadBalancerController,
    wants_load_balancer,
)


def manifest(spec: str, name: str = "web") -> Service:
    body = textwrap.indent(textwrap.dedent(spec).strip(), "  ")
    obj = decode_text(f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n{body}\n")[
        0
    ]
    assert isinstance(obj, Service)
    return obj


class Cluster:
    def __init__(self, style: str = "metallb", pool: LoadBalancerPool | None = None) -> None:
        self.api = APIServer(ClusterConfig.default(), seed=1)
        self.api.ensure_system_namespaces()
        self.pool = pool or LoadBalancerPool.for_cluster(self.api.config, style=style)
        self.controller = LoadBalancerController(self.api, self.pool)
        self.manager = ControllerManager(self.api.store, [self.controller])

    def apply(self, spec: str, name: str = "web") -> Service:
        svc = manifest(spec, name)
        if self.api.find(Service, "default", name) is None:
            self.api.create(svc)
        else:
            self.api.update(svc)
        self.manager.run_until_idle()
        return self.api.get(Service, "default", name)


LB = "type: LoadBalancer\nselector: {app: web}\nports: [{port: 80}]"


def test_is_a_controller() -> None:
    assert isinstance(Cluster().controller, Controller)


def test_metallb_style_status() -> None:
    c = Cluster()
    svc = c.apply(LB)
    assert svc.status.load_balancer_ingress == (
        LoadBalancerIngress(ip="172.18.255.200", ip_mode="VIP"),
    )


def test_cloud_provider_kind_style_status() -> None:
    c = Cluster("cloud-provider-kind")
    svc = c.apply(
        "type: LoadBalancer\nports: [{name: http, port: 80}, {name: dns, port: 53, protocol: UDP}]"
    )
    (ingress,) = svc.status.load_balancer_ingress
    assert ingress.ip == "172.18.0.5"
    assert ingress.ip_mode == "Proxy"
    assert ingress.ports == (PortStatus(80, "TCP"), PortStatus(53, "UDP"))


def test_idempotent_no_second_write() -> None:
    c = Cluster()
    c.apply(LB)
    events = len(c.api.store.events())
    c.controller.on_event(c.api.store.events()[-1])
    c.manager.run_until_idle()
    c.apply(LB)  # re-applying the manifest: a no-op update, no status write
    assert len(c.api.store.events()) == events


def test_load_balancer_class_is_left_alone() -> None:
    c = Cluster()
    svc = c.apply(LB + "\nloadBalancerClass: example.com/other")
    assert not wants_load_balancer(svc)
    assert svc.status.load_balancer_ingress == ()
    assert c.pool.used() == frozenset()


def test_type_change_away_releases_and_clears_status() -> None:
    c = Cluster()
    svc = c.apply(LB)
    assert svc.status.load_balancer_ingress
    stored = c.api.get(Service, "default", "web")
    to_cip = replace(
        stored, spec=replace(stored.spec, type="ClusterIP", external_traffic_policy=None)
    )
    c.api.update(to_cip)
    c.manager.run_until_idle()
    assert c.api.get(Service, "default", "web").status.load_balancer_ingress == ()
    assert c.pool.used() == frozenset()


def test_delete_releases_the_address() -> None:
    c = Cluster()
    c.apply(LB)
    c.api.delete(Service, "default", "web")
    c.manager.run_until_idle()
    assert c.pool.used() == frozenset()
    assert c.apply(LB, name="next").status.load_balancer_ingress[0].ip == "172.18.255.200"


def test_exhausted_pool_leaves_the_service_pending() -> None:
    c = Cluster(pool=LoadBalancerPool(["172.18.255.200/32"]))
    assert c.apply(LB, name="first").status.load_balancer_ingress[0].ip == "172.18.255.200"
    pending = c.apply(LB, name="second")
    assert pending.status.load_balancer_ingress == ()
    assert c.controller.failures == {
        "default/second": 'Failed to allocate IP for "default/second": no available IPs'
    }
    c.api.delete(Service, "default", "first")
    c.manager.run_until_idle()
    # Nothing requeued the pending Service yet; the next event for it gets it an address.
    c.controller.on_event(c.api.store.events()[-1])
    second = c.api.get(Service, "default", "second")
    c.api.update(replace(second, metadata=replace(second.metadata, labels={"retry": "1"})))
    c.manager.run_until_idle()
    assert (
        c.api.get(Service, "default", "second").status.load_balancer_ingress[0].ip
        == "172.18.255.200"
    )
    assert c.controller.failures == {}


@pytest.mark.parametrize("style", ["metallb", "cloud-provider-kind"])
def test_requested_ip_on_update(style: str) -> None:
    c = Cluster(style)
    c.apply(LB)
    svc = c.apply(LB + "\nloadBalancerIP: 172.18.255.240")
    expected = "172.18.255.240" if style == "metallb" else "172.18.0.5"
    assert svc.status.load_balancer_ingress[0].ip == expected
