"""PodIndex: pods by label pair, Services for a Pod without scanning every Service."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from k8s_service_lab.api import ObjectMeta, Pod, Service
from k8s_service_lab.api.pod import PodSpec
from k8s_service_lab.api.service import ServiceSpec
from k8s_service_lab.controlplane.podindex import PodIndex, service_selector


def _pod(name: str, labels: dict[str, str], ns: str = "default", node: str | None = None) -> Pod:
    return Pod(ObjectMeta(name=name, namespace=ns, labels=labels), PodSpec(node_name=node))


def _svc(name: str, selector: dict[str, str] | None, ns: str = "default") -> Service:
    return Service(ObjectMeta(name=name, namespace=ns), ServiceSpec(selector=selector))


def test_selector_none_and_empty_select_nothing() -> None:
    index = PodIndex()
    index.upsert_pod(_pod("a", {"app": "web"}))
    for svc in (_svc("x", None), _svc("y", {})):
        index.upsert_service(svc)
        assert service_selector(svc) is None
        assert index.pods_for_service(svc) == []
    assert index.services_for_labels("default", {"app": "web"}) == set()


def test_namespaces_are_separate_and_updates_reindex() -> None:
    index = PodIndex()
    index.upsert_service(_svc("web", {"app": "web", "tier": "fe"}))
    index.upsert_pod(_pod("a", {"app": "web", "tier": "fe"}, node="n1"))
    index.upsert_pod(_pod("b", {"app": "web", "tier": "fe"}, ns="other"))
    index.upsert_pod(_pod("c", {"app": "web"}))
    web = index.service("default", "web")
    assert [p.metadata.name for p in index.pods_for_service(web)] == ["a"]
    assert index.services_for_labels("default", {"app": "web"}) == set()
    old = index.upsert_pod(_pod("a", {"app": "api"}, node="n2"))
    assert old is not None
    assert old.metadata.labels == {"app": "web", "tier": "fe"}
    assert index.pods_for_service(web) == []
    assert index.pods_on_node("n1") == []
    assert len(index.pods_on_node("n2")) == 1
    assert index.remove_pod("default", "a") is not None
    assert index.pods_on_node("n2") == []
    index.remove_service("default", "web")
    assert index.services_for_labels("default", {"app": "web", "tier": "fe"}) == set()


LABELS = st.dictionaries(st.sampled_from("abc"), st.sampled_from("xy"), max_size=3)


@settings(database=None, max_examples=100)
@given(st.lists(LABELS, max_size=8), st.lists(LABELS, max_size=8))
def test_index_agrees_with_a_scan(
    pods: list[dict[str, str]], selectors: list[dict[str, str]]
) -> None:
    index = PodIndex()
    for i, labels in enumerate(pods):
        index.upsert_pod(_pod(f"p{i}", labels))
    for i, selector in enumerate(selectors):
        index.upsert_service(_svc(f"s{i}", selector))
    for i, selector in enumerate(selectors):
        want = sorted(
            f"p{j}"
            for j, labels in enumerate(pods)
            if selector and all(labels.get(k) == v for k, v in selector.items())
        )
        got = [p.metadata.name for p in index.pods_for_service(index.service("default", f"s{i}"))]
        assert got == want
    for labels in pods:
        want_svcs = {
            f"s{i}"
            for i, sel in enumerate(selectors)
            if sel and all(labels.get(k) == v for k, v in sel.items())
        }
        assert index.services_for_labels("default", labels) == want_svcs
