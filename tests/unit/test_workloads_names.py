"""Names the control plane makes up: generateName suffixes and pod-template hashes."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from k8s_service_lab.api.meta import ObjectMeta
from k8s_service_lab.api.pod import Container, PodSpec, PodTemplateSpec
from k8s_service_lab.controlplane.names import (
    ALPHABET,
    fnv32a,
    generate_name,
    pod_template_hash,
    random_suffix,
    replica_set_name,
    safe_encode_string,
)


def test_alphabet_is_apimachinery_rand_alphanums() -> None:
    assert ALPHABET == "bcdfghjklmnpqrstvwxz2456789"
    assert not set(ALPHABET) & set("aeiou013")


def test_fnv32a_known_vectors() -> None:
    # Published FNV-1a 32-bit test vectors.
    assert fnv32a(b"") == 0x811C9DC5
    assert fnv32a(b"a") == 0xE40C292C
    assert fnv32a(b"foobar") == 0xBF9CF968


def test_safe_encode_maps_digits_onto_ten_letters() -> None:
    assert safe_encode_string("0123456789") == "456789bcdf"


def test_generate_name_is_reproducible_with_a_seed() -> None:
    a = [generate_name("web-", random.Random(7)) for _ in range(2)]
    assert a[0] == a[1]
    assert generate_name("web-", random.Random(8)) != a[0]


def test_generate_name_truncates_long_bases_to_58() -> None:
    name = generate_name("x" * 80 + "-", random.Random(1))
    assert len(name) == 63
    assert name.startswith("x" * 58)


@settings(database=None, max_examples=50)
@given(st.integers(min_value=0, max_value=2**32))
def test_suffix_shape(seed: int) -> None:
    suffix = random_suffix(random.Random(seed))
    assert len(suffix) == 5
    assert set(suffix) <= set(ALPHABET)


def _template(image: str) -> PodTemplateSpec:
    return PodTemplateSpec(
        ObjectMeta(labels={"app": "web"}), PodSpec(containers=(Container("web", image=image),))
    )


@settings(database=None, max_examples=50)
@given(st.text(min_size=1, max_size=20))
def test_hash_shape(image: str) -> None:
    h = pod_template_hash(_template(image))
    assert 1 <= len(h) <= 10
    assert set(h) <= set("456789bcdf")


def test_hash_is_stable_and_sensitive() -> None:
    assert pod_template_hash(_template("nginx:1")) == pod_template_hash(_template("nginx:1"))
    assert pod_template_hash(_template("nginx:1")) != pod_template_hash(_template("nginx:2"))
    assert pod_template_hash(_template("nginx:1"), 1) != pod_template_hash(_template("nginx:1"))


def test_hash_value_is_pinned() -> None:
    # Guards the canonical encoding: a change here renames every ReplicaSet in golden files.
    assert pod_template_hash(PodTemplateSpec(ObjectMeta(labels={"app": "web"}))) == "db7f96584"


def test_replica_set_name() -> None:
    assert replica_set_name("web", "7d4b9c6f5") == "web-7d4b9c6f5"
