"""Object names the control plane makes up: ``generateName`` suffixes and pod-template hashes.

Kubernetes names a Deployment's ReplicaSet ``<deployment>-<pod-template-hash>`` and that
ReplicaSet's Pods ``<replicaset>-<5 random chars>``; EndpointSlices get ``<service>-<5 chars>``.
All the made-up characters come from one 27-letter alphabet with no vowels (so no words)::

    >>> import random
    >>> from k8s_service_lab.controlplane.names import ALPHABET, generate_name
    >>> name = generate_name("web-", random.Random(1))
    >>> name.startswith("web-"), len(name), set(name[4:]) <= set(ALPHABET)
    (True, 9, True)
    >>> from k8s_service_lab.controlplane.names import safe_encode_string
    >>> safe_encode_string("3914519815")
    '7f5895fd59'

A pod-template hash is built from the digits of a decimal number, so it only ever uses the
ten characters ``4-9`` and ``b c d f`` (``7d4b9c6f5``), as on a real cluster.

Randomness always comes from an injected :class:`random.Random`, so a seeded run names its
objects the same way every time.
"""

from __future__ import annotations

import json
import random

from k8s_service_lab.api.encode import to_dict
from k8s_service_lab.api.meta import ObjectMeta
from k8s_service_lab.api.pod import PodTemplateSpec
from k8s_service_lab.api.workloads import Deployment, DeploymentSpec

__all__ = [
    "ALPHABET",
    "MAX_GENERATE_BASE",
    "SUFFIX_LENGTH",
    "fnv32a",
    "generate_name",
    "pod_template_hash",
    "random_suffix",
    "replica_set_name",
    "safe_encode_string",
]

#: ``alphanums`` of k8s.io/apimachinery/pkg/util/rand/rand.go: no vowels, no 0/1/3.
ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
#: ``randomLength`` of apiserver's names.SimpleNameGenerator.
SUFFIX_LENGTH = 5
#: The base of a generated name is cut to 63 - 5 characters (``maxGeneratedNameLength``).
MAX_GENERATE_BASE = 63 - SUFFIX_LENGTH

_FNV32_OFFSET = 0x811C9DC5
_FNV32_PRIME = 0x01000193


def random_suffix(rng: random.Random, length: int = SUFFIX_LENGTH) -> str:
    """``rand.String(length)``: characters drawn uniformly from :data:`ALPHABET`."""
    return "".join(rng.choice(ALPHABET) for _ in range(length))


def generate_name(base: str, rng: random.Random) -> str:
    """``SimpleNameGenerator.GenerateName``: ``base`` (cut to 58 chars) + 5 random chars."""
    return base[:MAX_GENERATE_BASE] + random_suffix(rng)


def fnv32a(data: bytes) -> int:
    """The 32-bit FNV-1a hash (Go's ``hash/fnv.New32a``)."""
    value = _FNV32_OFFSET
    for byte in data:
        value = ((value ^ byte) * _FNV32_PRIME) & 0xFFFFFFFF
    return value


def safe_encode_string(text: str) -> str:
    """``rand.SafeEncodeString``: each byte mapped onto :data:`ALPHABET` (byte mod 27)."""
    return "".join(ALPHABET[b % len(ALPHABET)] for b in text.encode())


def pod_template_hash(template: PodTemplateSpec, collision_count: int | None = None) -> str:
    """The ``pod-template-hash`` label value, shaped like upstream's ``controller.ComputeHash``.

    Upstream hashes a spew dump of the Go struct with FNV-32a, appends ``collisionCount`` as
    8 bytes (uint32 little-endian, zero-padded), and SafeEncodes the decimal ``Sum32()`` —
    giving 1 to 10 characters of :data:`ALPHABET`. We cannot reproduce spew's dump byte for
    byte, so we hash the template's canonical JSON (``api.encode.to_dict``, sorted keys, no
    spaces) instead: the same alphabet and length range, stable across runs and machines,
    but not the same value a real cluster prints for the same manifest.

    >>> from k8s_service_lab.api.pod import PodTemplateSpec
    >>> h = pod_template_hash(PodTemplateSpec(ObjectMeta(labels={"app": "web"})))
    >>> h == pod_template_hash(PodTemplateSpec(ObjectMeta(labels={"app": "web"}))), 1 <= len(h)
    (True, True)
    """
    hasher_input = _canonical_template(template)
    if collision_count is not None:
        hasher_input += (collision_count & 0xFFFFFFFF).to_bytes(4, "little") + bytes(4)
    return safe_encode_string(str(fnv32a(hasher_input)))


def replica_set_name(deployment_name: str, template_hash: str) -> str:
    """``<deployment>-<pod-template-hash>``, as the Deployment controller names its ReplicaSets."""
    return f"{deployment_name}-{template_hash}"


def _canonical_template(template: PodTemplateSpec) -> bytes:
    # to_dict only takes whole resources: wrap the template in a Deployment and take it back out.
    wrapper = Deployment(ObjectMeta(), DeploymentSpec(template=template))
    spec = to_dict(wrapper)["spec"]
    assert isinstance(spec, dict)
    return json.dumps(spec["template"], sort_keys=True, separators=(",", ":")).encode()
