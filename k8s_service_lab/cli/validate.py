"""``ksl validate -f PATH...``: a client-side dry run with the apiserver's own answers.

Valid objects are listed on stdout (``service/web valid``); rejected ones on stderr in
kubectl's words (``Error from server (Invalid): error when creating "web.yaml": ...``).
The exit status is 1 when anything would be rejected, or a file cannot be read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import typer

from k8s_service_lab.field import FieldError


def run_validate(paths: Sequence[Path], config_path: Path | None, output: str) -> int:
    from k8s_service_lab.config import ClusterConfig, load_config
    from k8s_service_lab.dryrun import DryRun
    from k8s_service_lab.errors import ValidationError

    if output not in ("text", "json"):
        typer.echo(f'error: unknown output format "{output}" (use text or json)', err=True)
        return 1
    config = load_config(config_path) if config_path is not None else ClusterConfig.default()
    results = DryRun(config).apply(list(paths))
    if output == "json":
        records = []
        for r in results:
            record: dict[str, object] = {
                "kind": type(r.resource).KIND,
                "name": r.resource.metadata.name,
                "namespace": r.resource.metadata.namespace,
                "source": r.source,
                "line": r.line,
                "valid": r.ok,
            }
            if r.error is not None:
                record["reason"] = r.error.reason
                record["message"] = str(r.error)
                if isinstance(r.error, ValidationError):
                    record["causes"] = [_cause(e) for e in r.error.errors]
            records.append(record)
        typer.echo(json.dumps(records, indent=2))
    else:
        for r in results:
            typer.echo(r.kubectl(), err=not r.ok)
    return 0 if all(r.ok for r in results) else 1


def _cause(error: FieldError) -> dict[str, str]:
    """One ``details.causes[]`` entry, as a 422 response carries it."""
    return {"reason": error.type.reason, "message": error.body(), "field": str(error.path)}
