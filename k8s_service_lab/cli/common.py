"""What several commands share: building the embedded cluster from ``-f`` and ``--config``.

Objects given with ``-f`` are applied, in order, to a fresh embedded kind-shaped cluster; the
ones the apiserver would reject are reported on stderr in kubectl's words, and the command
goes on with the rest (its exit status says something was refused).

Given neither ``-f`` nor ``--config``, a command reads the running kernel lab instead, when
one is up: the lab ``$KSL_CLUSTER`` names, else the lab ``ksl`` (``ksl cluster up``'s default),
its model rebuilt from its recorded history (:mod:`k8s_service_lab.netns.state`). Labs are
root's (their state is readable by root only), so for anyone else this is always the fresh
cluster.
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
    """A fresh cluster with ``files`` applied; ``False`` when any object was refused.
    Without ``files`` and ``config_path``: the running lab's cluster, if one is up."""
    from k8s_service_lab.cluster import Cluster
    from k8s_service_lab.config import load_config

    if not files and config_path is None:
        running = running_lab_cluster()
        if running is not None:
            return running, True
    config = load_config(config_path) if config_path is not None else None
    cluster = Cluster(config, seed=seed)
    ok = True
    if files:
        for result in cluster.apply(list(files), check=False):
            if result.error is not None:
                ok = False
                typer.echo(result.kubectl(), err=True)
    return cluster, ok


def running_lab_cluster() -> Cluster | None:
    """The model of the current lab (``$KSL_CLUSTER``, else ``ksl``), or ``None`` when that lab
    is not up (or its state cannot be read: not root)."""
    from k8s_service_lab.cli.cluster_names import current_lab
    from k8s_service_lab.netns.state import lab_names, load_state

    name = current_lab()
    if name not in lab_names():
        return None
    return load_state(name).replay()
