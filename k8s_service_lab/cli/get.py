"""``ksl get KIND [NAME]``: the embedded cluster's objects, as ``kubectl get`` shows them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import typer

#: kubectl's names for each kind: plural, singular and short names.
ALIASES = {
    "services": ("services", "service", "svc"),
    "endpointslices": ("endpointslices", "endpointslice"),
    "endpoints": ("endpoints", "ep"),
    "pods": ("pods", "pod", "po"),
    "nodes": ("nodes", "node", "no"),
    "deployments": ("deployments", "deployment", "deploy"),
    "replicasets": ("replicasets", "replicaset", "rs"),
    "namespaces": ("namespaces", "namespace", "ns"),
}


def resource_for(kind: str) -> str | None:
    wanted = kind.lower().split(".")[0]
    for resource, names in ALIASES.items():
        if wanted in names:
            return resource
    return None


def run_get(
    kind: str,
    name: str | None,
    namespace: str | None,
    all_namespaces: bool,
    files: Sequence[Path],
    config_path: Path | None,
    output: str | None,
    seed: int,
) -> int:
    from k8s_service_lab.api import KINDS
    from k8s_service_lab.api.encode import to_json, to_yaml
    from k8s_service_lab.cli.common import build_cluster
    from k8s_service_lab.errors import NotFoundError
    from k8s_service_lab.printers import table

    resource = resource_for(kind)
    if resource is None:
        typer.echo(f'error: the server doesn\'t have a resource type "{kind}"', err=True)
        return 1
    if output not in (None, "wide", "yaml", "json", "name"):
        typer.echo(
            f'error: unable to match a printer suitable for the output format "{output}"',
            err=True,
        )
        return 1
    cls = next(c for c in KINDS.values() if resource == c.RESOURCE)
    if resource == "endpoints":
        # What a v1.33+ apiserver sends with every v1 Endpoints read.
        typer.echo(
            "Warning: v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice",
            err=True,
        )
    cluster, ok = build_cluster(files, config_path, seed)
    ns = None if all_namespaces or not cls.NAMESPACED else (namespace or "default")
    if name is not None:
        try:
            objects = [cluster.get(cls, name, namespace=ns)]
        except NotFoundError as err:
            typer.echo(f"Error from server (NotFound): {err}", err=True)
            return 1
    else:
        objects = cluster.list(cls, namespace=ns)
    if output == "yaml":
        typer.echo(to_yaml(objects[0] if name else objects, as_list=not name), nl=False)
    elif output == "json":
        typer.echo(to_json(objects[0] if name else objects, as_list=not name), nl=False)
    elif output == "name":
        for obj in objects:
            typer.echo(f"{cls.GROUP_KIND.lower()}/{obj.metadata.name}")
    elif not objects:
        where = "" if ns is None else f" in {ns} namespace"
        typer.echo(f"No resources found{where}.", err=True)
    else:
        text = table(
            objects,
            now=cluster.now(),
            wide=output == "wide",
            all_namespaces=all_namespaces and cls.NAMESPACED,
        )
        typer.echo(text)
    return 0 if ok else 1
