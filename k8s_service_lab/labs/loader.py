"""Finding labs on disk and loading one: its folder, its ``lab.yaml`` and its ``checks.py``.

A lab is a folder ``labs/NN-topic/`` holding ``README.md`` (English), ``README.zh.md``
(Simplified Chinese), ``kind.yaml`` (the kind cluster the lab runs on, also on a real kind),
``manifests/``, ``lab.yaml`` (:mod:`.spec`) and ``checks.py`` (plain functions taking a
:class:`~k8s_service_lab.labs.context.Context`). Loading checks that every file is there and
that every check the lab names is a function in ``checks.py``::

    >>> labs = find_labs()
    >>> labs[0].id, labs[0].slug
    ('01', 'pods-come-and-go')
    >>> find_lab("01").readme("zh").startswith("# ")
    True
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from k8s_service_lab.labs.spec import LabError, LabSpec, parse_spec

if TYPE_CHECKING:
    from k8s_service_lab.config import ClusterConfig

__all__ = ["LABS_ROOT", "REQUIRED", "Check", "Lab", "find_lab", "find_labs", "load_lab"]


#: The labs shipped with the project: ``labs/`` at the top of the repository.
def _labs_root() -> Path:
    # A checkout has labs/ next to the package; a wheel carries them as package data.
    here = Path(__file__).resolve()
    checkout = here.parents[2] / "labs"
    return checkout if checkout.is_dir() else here.parents[1] / "labs_data"


LABS_ROOT = _labs_root()
REQUIRED = ("README.md", "README.zh.md", "kind.yaml", "manifests", "lab.yaml", "checks.py")
_FOLDER = re.compile(r"^(\d\d)-([a-z0-9]+(?:-[a-z0-9]+)*)$")

Check = Callable[[Any], str]


@dataclass(frozen=True, slots=True)
class Lab:
    """A loaded lab: where it lives, what ``lab.yaml`` says, and its check functions."""

    path: Path
    spec: LabSpec
    checks: Mapping[str, Check]

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def slug(self) -> str:
        return self.path.name.split("-", 1)[1]

    def title(self, lang: str = "en") -> str:
        return self.spec.title[lang]

    def readme(self, lang: str = "en") -> str:
        """The lab's text in ``lang`` (``en`` or ``zh``)."""
        name = {"en": "README.md", "zh": "README.zh.md"}.get(lang)
        if name is None:
            raise LabError(f'no README in "{lang}" (en or zh)')
        return (self.path / name).read_text(encoding="utf-8")

    def config(self) -> ClusterConfig:
        """The lab's kind cluster config (``kind.yaml``)."""
        from k8s_service_lab.config import load_config

        return load_config(self.path / "kind.yaml")

    def file(self, relative: str) -> Path:
        """A file named by ``lab.yaml``, which must stay inside the lab's folder."""
        path = (self.path / relative).resolve()
        if self.path.resolve() not in path.parents or not path.exists():
            raise LabError(f"{self.path.name}/lab.yaml: {relative}: no such file in the lab")
        return path


def find_labs(root: Path = LABS_ROOT) -> tuple[Lab, ...]:
    """Every lab under ``root`` (folders named ``NN-topic``), in id order."""
    if not root.is_dir():
        raise LabError(f"{root}: no labs folder here")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and _FOLDER.match(p.name))
    return tuple(load_lab(p) for p in folders)


def find_lab(lab_id: str, root: Path = LABS_ROOT) -> Lab:
    """The lab whose id (``01``, ``1``) or folder name (``01-pods-come-and-go``) is given."""
    wanted = lab_id.strip()
    if wanted.isdigit():
        wanted = f"{int(wanted):02d}"
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        match = _FOLDER.match(folder.name)
        if match and wanted in (match.group(1), folder.name):
            return load_lab(folder)
    have = ", ".join(p.name[:2] for p in sorted(root.glob("[0-9][0-9]-*")))
    raise LabError(f'no lab "{lab_id}" (have: {have or "none"}; see ksl lab list)')


def load_lab(path: Path) -> Lab:
    """Load the lab in folder ``path``; a :class:`LabError` says what is missing or wrong."""
    match = _FOLDER.match(path.name)
    if match is None:
        raise LabError(f"{path}: a lab folder is named NN-topic (like 01-pods-come-and-go)")
    missing = [name for name in REQUIRED if not (path / name).exists()]
    if missing:
        raise LabError(f"lab {path.name}: missing {', '.join(missing)}")
    spec = parse_spec(
        (path / "lab.yaml").read_text(encoding="utf-8"), source=f"{path.name}/lab.yaml"
    )
    if spec.id != match.group(1):
        raise LabError(f'{path.name}/lab.yaml: id "{spec.id}" does not match the folder name')
    module = _import_checks(path)
    checks: dict[str, Check] = {}
    for name in spec.check_names():
        func = getattr(module, name, None)
        if not callable(func):
            raise LabError(f"{path.name}/checks.py: no check function {name}() (lab.yaml names it)")
        checks[name] = func
    lab = Lab(path, spec, checks)
    for step in spec.steps:
        for relative in step.action.files:
            lab.file(relative)
    return lab


def _import_checks(path: Path) -> ModuleType:
    # Each lab's checks get their own module name, so two labs' checks never collide and a
    # re-load (a test, an edited lab) reads the file again.
    name = f"_ksl_lab_checks_{path.name.replace('-', '_')}"
    spec = importlib.util.spec_from_file_location(name, path / "checks.py")
    if spec is None or spec.loader is None:
        raise LabError(f"{path.name}/checks.py: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        raise LabError(
            f"{path.name}/checks.py: import failed: {type(err).__name__}: {err}"
        ) from err
    finally:
        sys.modules.pop(name, None)
    return module
