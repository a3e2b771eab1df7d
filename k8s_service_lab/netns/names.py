"""Names of a kernel lab's objects: namespaces and links, all derived from the lab's prefix.

DESIGN §8 asks that every lab object carry the lab's prefix so that a crash-safe
``ksl cluster down --all`` can find it by name alone. A namespace is called
``<prefix>-<role>-<subject>``. The roles are a closed set of words that no prefix may contain,
so :func:`owns` tells this lab's namespaces from another lab's even when one prefix starts with
the other (``ksl`` and ``ksl-t``): after ``ksl-`` comes a role word, after ``ksl-t-`` never::

    >>> namespace_name("ksl", "node", "kind-worker")
    'ksl-node-kind-worker'
    >>> namespace_name("ksl", "pod", "default/web-6d4cf56db6-x2x9q")
    'ksl-pod-default.web-6d4cf56db6-x2x9q'
    >>> owns("ksl", "ksl-pod-default.web"), owns("ksl", "ksl-t-pod-default.web")
    (True, False)

Link names must fit the kernel's ``IFNAMSIZ`` (16 bytes, so 15 characters). Inside pods and
nodes the lab keeps kind's own names (``eth0``), because that is what a learner sees with
``kubectl exec ... ip addr``; every other link starts with the prefix::

    >>> link_name("ksl-t-topo", "n0"), len(pod_veth_name("ksl-t-topo", "default/web-0"))
    ('ksl-t-topo-n0', 15)
"""

from __future__ import annotations

import hashlib
import re
from enum import StrEnum

from k8s_service_lab.errors import ServiceLabError

__all__ = [
    "IFNAMSIZ",
    "MAX_NAMESPACE_NAME",
    "MAX_PREFIX",
    "LabPlanError",
    "Role",
    "check_prefix",
    "link_name",
    "namespace_name",
    "owns",
    "pod_veth_name",
]

#: The kernel's interface-name buffer, terminating NUL included (``include/uapi/linux/if.h``).
IFNAMSIZ = 16
#: Our cap on namespace names: ``ip netns`` allows a whole file name, but long names read badly.
MAX_NAMESPACE_NAME = 63
#: A prefix leaves room for ``-`` and a tag of at least four characters in a link name.
MAX_PREFIX = IFNAMSIZ - 1 - 5
_PREFIX_RE = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


class LabPlanError(ServiceLabError):
    """The cluster cannot be laid out as a kernel lab (a bad prefix, an address clash)."""


class Role(StrEnum):
    """What a lab namespace stands for; the middle word of its name."""

    NETWORK = "net"
    NODE = "node"
    POD = "pod"
    EXTERNAL = "ext"


def check_prefix(prefix: str) -> str:
    """Return ``prefix`` if it can name a lab, else raise :class:`LabPlanError` saying why."""
    if not _PREFIX_RE.match(prefix):
        raise LabPlanError(
            f'lab prefix "{prefix}" must be lower-case letters, digits and "-", '
            "starting and ending with a letter or digit"
        )
    clash = next((w for w in prefix.split("-") if w in {r.value for r in Role}), None)
    if clash is not None:
        raise LabPlanError(
            f'lab prefix "{prefix}" must not contain the word "{clash}": its namespace names '
            "would read as another lab's (the words net, node, pod and ext name roles)"
        )
    if len(prefix) > MAX_PREFIX:
        raise LabPlanError(
            f'lab prefix "{prefix}" is longer than {MAX_PREFIX} characters: link names '
            f"(prefix, a dash and a tag) must fit the kernel's {IFNAMSIZ - 1}-character limit"
        )
    return prefix


def namespace_name(prefix: str, role: str, subject: str) -> str:
    """``<prefix>-<role>-<subject>``, ``/`` written as ``.``, shortened with a hash when long.

    Kubernetes namespaces are DNS labels (no dots), so ``default/web`` becomes the unambiguous
    ``default.web``. Names over :data:`MAX_NAMESPACE_NAME` keep their head and end in eight hex
    digits of a SHA-256 of the full name, so they stay distinct and stable.
    """
    full = f"{prefix}-{Role(role)}-{subject.replace('/', '.')}"
    if len(full) <= MAX_NAMESPACE_NAME:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:8]
    return f"{full[: MAX_NAMESPACE_NAME - 9]}-{digest}"


def owns(prefix: str, name: str) -> bool:
    """Whether namespace ``name`` belongs to the lab ``prefix`` (by the role word after it)."""
    return any(name.startswith(f"{prefix}-{role}-") for role in Role)


def link_name(prefix: str, tag: str) -> str:
    """``<prefix>-<tag>``, refused when it would not fit ``IFNAMSIZ``."""
    name = f"{prefix}-{tag}"
    if len(name) >= IFNAMSIZ:
        raise LabPlanError(f'link name "{name}" is longer than {IFNAMSIZ - 1} characters')
    return name


def pod_veth_name(prefix: str, pod: str, salt: int = 0) -> str:
    """The node-side end of a pod's veth: the prefix and hex digits of a hash of the pod.

    kindnet's CNI (the ``ptp`` plugin) names this end ``veth`` plus random hex digits; ours are
    a hash of ``namespace/name`` (and ``salt``, bumped on the rare clash within one node) so the
    same pod always gets the same name.
    """
    room = IFNAMSIZ - 1 - len(prefix) - 1
    digest = hashlib.sha256(f"{pod}#{salt}".encode()).hexdigest()
    return link_name(prefix, digest[:room])
