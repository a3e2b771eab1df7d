"""``ksl explain service NAME`` and ``ksl dns NAME``: questions answered from the cluster."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import typer


def run_explain(
    kind: str,
    name: str,
    namespace: str,
    files: Sequence[Path],
    config_path: Path | None,
    seed: int,
) -> int:
    from k8s_service_lab.cli.common import build_cluster
    from k8s_service_lab.errors import NotFoundError
    from k8s_service_lab.explain import render_explanation

    if kind.lower() not in ("service", "services", "svc"):
        typer.echo(f'error: ksl explain answers for services, not "{kind}"', err=True)
        return 1
    cluster, ok = build_cluster(files, config_path, seed)
    try:
        report = cluster.explain(name, namespace)
    except NotFoundError as err:
        typer.echo(f"Error from server (NotFound): {err}", err=True)
        return 1
    typer.echo(render_explanation(report))
    return 0 if ok else 1


def run_dns(
    name: str,
    qtype: str,
    namespace: str,
    files: Sequence[Path],
    config_path: Path | None,
    output: str,
    seed: int,
) -> int:
    from k8s_service_lab.cli.common import build_cluster
    from k8s_service_lab.controlplane.dnsrecords import answer_to_dict, format_answer

    qtype = qtype.upper()
    if qtype not in ("A", "AAAA", "SRV", "CNAME", "PTR", "TXT", "SOA", "NS"):
        typer.echo(f'error: unsupported query type "{qtype}"', err=True)
        return 1
    cluster, ok = build_cluster(files, config_path, seed)
    resolution = cluster.resolve(name, qtype, namespace=namespace)
    answer = resolution.answer
    if output == "json":
        record = answer_to_dict(answer)
        record["queries"] = list(resolution.queries)
        typer.echo(json.dumps(record, indent=2))
    else:
        typer.echo(f";; queries tried: {', '.join(resolution.queries)}")
        typer.echo(f";; status: {answer.rcode.value}")
        if answer.forwarded:
            typer.echo(";; (forwarded beyond the cluster: the lab has no upstream DNS server)")
        if answer.answer:
            typer.echo(";; ANSWER SECTION:")
            typer.echo(format_answer(answer))
        elif answer.authority:
            typer.echo(";; AUTHORITY SECTION:")
            typer.echo(format_answer(answer, section="authority"))
    return 0 if ok and resolution.found else 1
