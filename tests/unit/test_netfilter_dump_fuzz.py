"""Fuzzed dumps, driven by hypothesis: parse, or a DumpError naming a line — nothing else.

test_netfilter_properties.py already mutates the real-world dumps with a seeded
``random.Random`` (word edits only). This file adds what that does not cover: hypothesis
drives and shrinks the mutations; the seeds include kube-proxy dumps we render (save text
with the jump rules, and restore payloads with its ``-I`` jump rules); and the mutations include
swapped tokens and lines, truncation anywhere (mid-token, mid-quote) and raw bytes
(NUL, CR, form feed, non-ASCII). Whatever parses must print back to the same ruleset.
Also: random rendered clusters round-trip through both text forms.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from k8s_service_lab import Cluster
from k8s_service_lab.netfilter import (
    DumpError,
    Ruleset,
    canonical,
    parse_save,
    to_restore,
    to_save,
)
from k8s_service_lab.tracer import merge

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "real-world"

GARBAGE = [
    "!", "!!", '"', '"open', "'", "\\", "-m", "-j", "-A", "-I", "-N", "-X", "-D", "-p", "-s",
    "--dport", "--to-destination", "--probability", "--mark", "--comment", "0x", "0x4000/",
    "/33", "1.2.3.4/99", "::1/129", "65536", "-1", "[1:2]", "[x:y]", "[:]", ":", "COMMIT",
    "*nat", "*raw", "*", ":KUBE-X", "ACCEPT", "-", "--", "tcp", "udp", "sctp", "icmp",
    "KUBE-SERVICES", "\t", "#", "",
]  # fmt: skip

SERVICE = """apiVersion: v1
kind: Service
metadata: {{name: s{i}, namespace: default}}
spec:
  type: {type}
  selector: {{app: a{app}}}
  sessionAffinity: {affinity}
{etp}  ports:
{ports}"""
DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata: {{name: a{app}, namespace: default}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: a{app}}}}}
  template:
    metadata: {{labels: {{app: a{app}}}}}
    spec: {{containers: [{{name: c, image: agnhost, ports: [{{containerPort: 8080, name: web}}]}}]}}"""


@st.composite
def manifests(draw: st.DrawFn) -> str:
    """A few Deployments and Services of every type, policy and protocol."""
    docs = [DEPLOYMENT.format(app=app, replicas=draw(st.integers(0, 4))) for app in range(3)]
    for i in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["ClusterIP", "NodePort", "LoadBalancer"]))
        local = kind != "ClusterIP" and draw(st.booleans())
        ports = draw(
            st.lists(
                st.tuples(st.integers(1, 65535), st.sampled_from(["TCP", "UDP", "SCTP"])),
                min_size=1,
                max_size=3,
                unique=True,
            )
        )
        target = draw(st.sampled_from(["web", "8080", "9090"]))
        lines = "".join(
            f"  - {{name: p{n}, port: {port}, protocol: {proto}, targetPort: {target}}}\n"
            for n, (port, proto) in enumerate(ports)
        )
        docs.append(
            SERVICE.format(
                i=i,
                type=kind,
                app=draw(st.integers(0, 3)),
                affinity=draw(st.sampled_from(["None", "ClientIP"])),
                etp="  externalTrafficPolicy: Local\n" if local else "",
                ports=lines,
            )
        )
    return "\n---\n".join(docs)


def _render(yaml: str, seed: int, node: str) -> tuple[Ruleset, Ruleset]:
    cluster = Cluster(seed=seed)
    cluster.apply(yaml)
    payload = cluster.render("iptables", node)
    return payload, merge(payload, cluster.jump_rules("iptables", node))


@settings(database=None, max_examples=60, deadline=None)
@given(manifests(), st.integers(0, 2**16), st.sampled_from(["kind-worker", "kind-worker2"]))
def test_rendered_clusters_round_trip_through_both_text_forms(
    yaml: str, seed: int, node: str
) -> None:
    payload, full = _render(yaml, seed, node)
    assert parse_save(to_restore(payload)) == payload
    assert parse_save(to_restore(full)) == full
    saved = to_save(full)
    again = parse_save(saved)
    assert canonical(again) == canonical(full)
    assert to_save(again) == saved


# -- fuzzing ---------------------------------------------------------------------------------


@cache
def _seeds() -> tuple[tuple[str, ...], ...]:
    """Real-world dumps, and what we render for a small cluster (save and restore forms)."""
    texts = [p.read_text() for p in sorted(FIXTURES.glob("*.iptables-save"))]
    yaml = "\n---\n".join(
        [
            DEPLOYMENT.format(app=0, replicas=3),
            SERVICE.format(
                i=0,
                type="LoadBalancer",
                app=0,
                affinity="ClientIP",
                etp="  externalTrafficPolicy: Local\n",
                ports="  - {name: h, port: 80, protocol: TCP, targetPort: web}\n"
                "  - {name: u, port: 53, protocol: UDP, targetPort: 8080}\n",
            ),
        ]
    )
    _, full = _render(yaml, 7, "kind-worker")
    texts += [to_save(full), to_restore(full)]
    return tuple(tuple(t.split("\n")) for t in texts)


def _check(text: str) -> str:
    """Parse ``text``: it either reads (and prints back) or fails with a line number."""
    try:
        rs = parse_save(text, source="fuzz")
    except DumpError as err:
        error: DumpError | None = err
    else:
        error = None
    if error is not None:
        assert error.line is not None, f"no line number: {error}"
        assert 1 <= error.line <= text.count("\n") + 1, f"not a line of the text: {error}"
        assert str(error).startswith(f"fuzz:{error.line}: "), str(error)
        return "error"
    try:
        same = canonical(parse_save(to_save(rs))) == canonical(rs)
    except DumpError:
        same = False
    assert same, to_save(rs)
    return "parsed"


@pytest.mark.parametrize(
    "line",
    [
        '-A "a b" -j ACCEPT',
        '-A C -j "a b"',
        '-A C -m "foo bar" -j ACCEPT',
        '-A C -p "tcp x" -j ACCEPT',
        '-A C -i "a b" -j ACCEPT',
        '-A C -j DNAT --to-destination "1.2.3.4 x"',
        # not whitespace: a protocol option before -p (iptables reads options in order)
        "-A C -m comment --dport --comment x -p tcp -j ACCEPT",
    ],
)
def test_whitespace_in_names_and_early_protocol_options_are_refused(line: str) -> None:
    text = f"*filter\n:C - [0:0]\n{line}\nCOMMIT\n"
    # Refused, as iptables refuses them, on the line that holds them.
    with pytest.raises(DumpError) as caught:
        parse_save(text, source="fuzz")
    assert caught.value.line == 3


@st.composite
def mutated(draw: st.DrawFn, seeds: list[int]) -> str:
    lines = list(_seeds()[draw(st.sampled_from(seeds))])
    if draw(st.booleans()):  # a window, so edits land everywhere in long dumps
        start = draw(st.integers(0, len(lines) - 1))
        lines = lines[start : start + draw(st.integers(1, 40))]
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, max(len(lines) - 1, 0)))
        if not lines:
            lines = [""]
        words = lines[i].split(" ")
        op = draw(st.integers(0, 9))
        if op == 0:
            del lines[i]
        elif op == 1:
            lines.insert(i, lines[draw(st.integers(0, len(lines) - 1))])
        elif op == 2:
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == 3:
            del words[draw(st.integers(0, len(words) - 1))]
        elif op == 4:
            j = draw(st.integers(0, len(words) - 1))
            words.insert(j, words[j])
        elif op == 5:
            j, k = draw(st.integers(0, len(words) - 1)), draw(st.integers(0, len(words) - 1))
            words[j], words[k] = words[k], words[j]
        elif op == 6:
            token = draw(st.sampled_from(GARBAGE) | st.text(max_size=6))
            words.insert(draw(st.integers(0, len(words))), token)
        elif op == 7:
            pos = draw(st.integers(0, len(lines[i])))
            noise = draw(st.binary(min_size=1, max_size=4)).decode("latin-1")
            lines[i] = lines[i][:pos] + noise + lines[i][pos:]
        elif op == 8:
            text = "\n".join(lines)
            lines = text[: draw(st.integers(0, len(text)))].split("\n")
        else:
            j = draw(st.integers(0, len(words) - 1))
            words[j] = words[j][: draw(st.integers(0, len(words[j])))]
        if op in (3, 4, 5, 6, 9) and i < len(lines):
            lines[i] = " ".join(words)
    return "\n".join(lines)


FUZZ = settings(
    database=None,
    max_examples=5_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FUZZ
@given(mutated(seeds=[0, 1, 2, 3, 4]))
def test_mutated_real_world_dumps_parse_or_name_a_line(text: str) -> None:
    _check(text)


@FUZZ
@given(mutated(seeds=[5, 6]))
def test_mutated_rendered_dumps_parse_or_name_a_line(text: str) -> None:
    _check(text)


def test_the_seeds_are_what_they_claim() -> None:
    seeds = _seeds()
    assert len(seeds) == 7
    assert [_check("\n".join(s)) for s in seeds] == ["parsed"] * 7
    assert seeds[5][0] == "*filter"
    assert any(line.startswith(":KUBE-SVL-") for line in seeds[5])  # eTP=Local rendered
    assert any(line.startswith("-I ") for line in seeds[6])  # restore form, jump rules
