"""The kernel lab: a kind-shaped cluster built from Linux network namespaces (DESIGN §3, §8).

:mod:`.plan` lays a modelled cluster out (pure); :mod:`.kernel` builds and destroys it with
pyroute2, never touching the host's own namespace; :mod:`.podserver` serves what agnhost
``netexec`` serves inside every pod. A plan can be read without root::

    >>> from k8s_service_lab import Cluster
    >>> from k8s_service_lab.netns import plan_lab
    >>> print(plan_lab(Cluster(), prefix="ksl").describe().splitlines()[0])
    lab ksl: 7 namespaces, 6 veths
"""

from __future__ import annotations

from k8s_service_lab.netns.names import LabPlanError, Role
from k8s_service_lab.netns.plan import (
    Address,
    LabPlan,
    NetNamespace,
    PodPlan,
    Route,
    ServedPort,
    Sysctl,
    Veth,
    plan_lab,
)

__all__ = [
    "Address",
    "LabPlan",
    "LabPlanError",
    "NetNamespace",
    "PodPlan",
    "Role",
    "Route",
    "ServedPort",
    "Sysctl",
    "Veth",
    "plan_lab",
]
