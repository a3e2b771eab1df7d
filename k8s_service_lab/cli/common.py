"""What several commands share: building the embedded cluster from ``-f`` and ``--config``.

Objects given with ``-f`` are applied, in order, to a fresh embedded kind-shaped cluster; the
ones the apiserver would reject are reported on stderr in kubectl's words, and the command
goes on with the rest (its exit status says something was refused).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from k8s_service_lab.cluster import Cluster


def build_cluster(
    files: Sequence[Path], config_path: Path | None, seed: int
) -> tuple[Cluster, bool]:
    """A fresh cluster with ``files`` applied; ``False`` when any object was refused."""
    from k8s_service_lab.cluster import Cluster
    from k8s_service_lab.config import load_config

    config = load_config(config_path) if config_path is not None else None
    cluster = Cluster(config, seed=seed)
    ok = True
    if files:
        for result in cluster.apply(list(files), check=False):
            if result.error is not None:
                ok = False
                typer.echo(result.kubectl(), err=True)
    return cluster, ok
