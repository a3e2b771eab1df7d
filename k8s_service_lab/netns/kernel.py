"""Building a :class:`~k8s_service_lab.netns.plan.LabPlan` in the kernel, and taking it down.

Everything happens inside the lab's own namespaces (DESIGN §8): each veth is created inside
one lab namespace with its peer placed straight into another, sysctls are written by a thread
that has entered the lab namespace (and checks it is not the caller's before writing), and
nothing is ever added to the host's namespace. Teardown finds everything by name::

    >>> from k8s_service_lab import Cluster
    >>> from k8s_service_lab.netns import plan_lab
    >>> plan = plan_lab(Cluster(), prefix="ksl-doc")
    >>> sorted(plan_namespaces(plan))[:2]
    ['ksl-doc-ext-external', 'ksl-doc-net-kind']

As root: ``build(plan)`` then ``destroy(plan)``, or ``with lab(plan) as running: ...``, which
also starts the pod servers (and, given ``dns=LabDNS.of(cluster.dns)``, writes each pod's
``/etc/netns/<namespace>/resolv.conf`` and runs DNS in the CoreDNS pods) and always tears
down — on return, on an exception, and on SIGINT/SIGTERM (the handlers are restored
afterwards). After a crash, ``destroy_all("ksl")`` removes every namespace (and
``/etc/netns`` directory) whose name says it belongs to lab ``ksl``, and every process still
living in one (``ksl cluster down --all``).
"""

from __future__ import annotations

import os
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from pyroute2 import IPRoute
from pyroute2 import netns as pyroute2_netns

from k8s_service_lab.errors import PrerequisiteError, ServiceLabError
from k8s_service_lab.netns.enter import NETNS_RUN_DIR, entered, namespace_path, netns_inode
from k8s_service_lab.netns.names import LabPlanError, owns
from k8s_service_lab.netns.plan import LabPlan, NetNamespace
from k8s_service_lab.netns.podserver import PodServers
from k8s_service_lab.netns.resolvconf import (
    LabDNS,
    remove_resolv_confs,
    resolv_conf_dirs,
    write_resolv_confs,
)

__all__ = [
    "LabSafetyError",
    "RunningLab",
    "Teardown",
    "build",
    "configure_namespace",
    "destroy",
    "destroy_all",
    "lab",
    "lab_namespaces",
    "plan_namespaces",
    "pyroute2_quiet",
    "require_root",
    "write_sysctls",
]

#: ``IFA_F_NODAD`` (``include/uapi/linux/if_addr.h``): IPv6 addresses usable at once.
IFA_F_NODAD = 0x02
#: ``RT_SCOPE_LINK``: a route to a neighbour reached without a gateway.
RT_SCOPE_LINK = 253
#: How long a process in a lab namespace gets between SIGTERM and SIGKILL.
TERM_GRACE_SECONDS = 1.0


class LabSafetyError(ServiceLabError):
    """The lab was about to change a namespace that is not its own; nothing was written."""


@dataclass(frozen=True, slots=True)
class Teardown:
    """What a teardown removed: namespaces by name, the processes it had to stop, and the
    files (pods' ``resolv.conf`` under ``/etc/netns``) it deleted."""

    namespaces: tuple[str, ...]
    processes: tuple[int, ...]
    files: tuple[Path, ...] = ()


@dataclass(frozen=True, slots=True)
class RunningLab:
    """A lab that is up: its plan, the pod servers answering in it, and its DNS if any."""

    plan: LabPlan
    servers: PodServers | None
    dns: LabDNS | None = None


def plan_namespaces(plan: LabPlan) -> tuple[str, ...]:
    return tuple(ns.name for ns in plan.namespaces)


def lab_namespaces(prefix: str) -> tuple[str, ...]:
    """The named namespaces that belong to lab ``prefix`` (see ``names.owns``), sorted."""
    if not NETNS_RUN_DIR.is_dir():
        return ()
    return tuple(sorted(n for n in os.listdir(NETNS_RUN_DIR) if owns(prefix, n)))


def require_root() -> None:
    if os.geteuid() != 0:
        raise PrerequisiteError('the kernel lab needs root: run "sudo ksl cluster up"')


# -- build ---------------------------------------------------------------------------------------


def build(plan: LabPlan, *, dns: LabDNS | None = None) -> None:
    """Create every namespace, link, address, route and sysctl of ``plan``; with ``dns``, also
    every pod's ``/etc/netns/<namespace>/resolv.conf`` (what ``ip netns exec`` mounts).

    Refuses (and touches nothing) when one of the plan's namespaces exists already. On any
    failure, what this call created is removed again before the error propagates.
    """
    owner = os.getpid()
    created: list[str] = []
    try:
        _build(plan, created, dns)
    except BaseException:
        if os.getpid() == owner:  # never from a forked pyroute2 helper
            _remove(created)
        raise


def _build(plan: LabPlan, created: list[str], dns: LabDNS | None) -> None:
    require_root()
    taken = [name for name in plan_namespaces(plan) if namespace_path(name).exists()]
    if taken:
        raise LabPlanError(
            f'namespace "{taken[0]}" already exists: lab "{plan.prefix}" is up '
            '(take it down with "ksl cluster down --all")'
        )
    with pyroute2_quiet():
        for ns in plan.namespaces:
            pyroute2_netns.create(ns.name)
            created.append(ns.name)
        write_sysctls(plan.namespaces)
        _wire(plan)
    if dns is not None:
        # Named after the pod namespaces just created, so every teardown finds them.
        write_resolv_confs(plan, dns)


@contextmanager
def pyroute2_quiet() -> Iterator[None]:
    """pyroute2 forks a helper per namespace socket, and the helper leaves its netlink socket
    to the garbage collector; with warnings turned into errors (as our tests run) the helper
    then fails half-way. The forked helper inherits the filter set here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        yield


def write_sysctls(namespaces: tuple[NetNamespace, ...]) -> None:
    """Write each namespace's sysctls from a worker thread that has entered it.

    ``/proc/sys/net`` shows the namespace of the thread that opens it, so the worker enters
    the lab namespace, checks that it is neither the caller's namespace nor anything but the
    named one, and only then writes. The thread ends afterwards, so no Python code ever runs
    on it in the wrong namespace.
    """
    home = netns_inode()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for ns in namespaces:
                if not ns.sysctls:
                    continue
                path = namespace_path(ns.name)
                with entered(path) as inode:
                    if inode == home or inode != os.stat(path).st_ino:
                        raise LabSafetyError(f"refusing to write sysctls: not inside {ns.name}")
                    for sysctl in ns.sysctls:
                        Path(sysctl.path).write_text(sysctl.value)
        except BaseException as err:  # handed to the caller's thread below
            errors.append(err)

    worker = threading.Thread(target=work, name="ksl-netns-sysctl")
    worker.start()
    worker.join()
    if errors:
        raise errors[0]


def _wire(plan: LabPlan) -> None:
    # One netlink handle open at a time: first every namespace makes its bridges and the
    # veths that start in it (their peers land in namespaces that already exist), then every
    # namespace brings its links up and takes its addresses and routes.
    for ns in plan.namespaces:
        with IPRoute(netns=ns.name, flags=0) as ipr:  # flags=0: never create a namespace
            for bridge in ns.bridges:
                ipr.link("add", ifname=bridge, kind="bridge")
            for veth in (v for v in plan.veths if v.namespace == ns.name):
                ipr.link(
                    "add",
                    ifname=veth.name,
                    kind="veth",
                    peer={"ifname": veth.peer, "net_ns_fd": veth.peer_namespace},
                )
                if veth.bridge is not None:
                    master = _index(ipr, veth.bridge)
                    ipr.link("set", index=_index(ipr, veth.name), master=master)
    for ns in plan.namespaces:
        with IPRoute(netns=ns.name, flags=0) as ipr:
            configure_namespace(ipr, ns)


def configure_namespace(ipr: Any, ns: NetNamespace) -> None:
    for link in ipr.get_links():
        ipr.link("set", index=link["index"], state="up")
    for addr in ns.addresses:
        extra = {"flags": IFA_F_NODAD} if addr.address.version == 6 else {}
        ipr.addr(
            "add",
            index=_index(ipr, addr.interface),
            address=str(addr.address.ip),
            prefixlen=addr.address.network.prefixlen,
            **extra,
        )
    for route in ns.routes:
        where: dict[str, Any] = {"dst": str(route.destination), "oif": _index(ipr, route.device)}
        if route.gateway is None:
            where["scope"] = RT_SCOPE_LINK
        else:
            where["gateway"] = str(route.gateway)
        ipr.route("add", **where)


def _index(ipr: Any, ifname: str) -> int:
    found = ipr.link_lookup(ifname=ifname)
    if not found:
        raise ServiceLabError(f'link "{ifname}" not found in {ipr.status.get("netns")}')
    return int(found[0])


# -- teardown ------------------------------------------------------------------------------------


def destroy(plan: LabPlan) -> Teardown:
    """Remove ``plan``'s namespaces (those that exist), stop every process living in them, and
    delete their ``/etc/netns`` files."""
    names = plan_namespaces(plan)
    return _remove([n for n in names if namespace_path(n).exists()], files=names)


def destroy_all(prefix: str) -> Teardown:
    """Remove every namespace of lab ``prefix`` and its processes: ``ksl cluster down --all``.

    Only names that :func:`~k8s_service_lab.netns.names.owns` gives to ``prefix`` are touched,
    so ``destroy_all("ksl")`` leaves lab ``ksl-t``'s namespaces alone. ``/etc/netns``
    directories of the lab go too, also those whose namespace is already gone.
    """
    names = lab_namespaces(prefix)
    return _remove(list(names), files=sorted({*names, *resolv_conf_dirs(prefix)}))


def _remove(names: list[str], files: Iterable[str] | None = None) -> Teardown:
    # Processes first: a namespace lives on while a process (or a socket) still holds it.
    inodes = {}
    for name in names:
        try:
            st = os.stat(namespace_path(name))
        except FileNotFoundError:
            continue
        inodes[(st.st_dev, st.st_ino)] = name
    stopped = _stop_processes(set(inodes))
    removed = []
    for name in names:
        if namespace_path(name).exists():
            pyroute2_netns.remove(name)
            removed.append(name)
    deleted = remove_resolv_confs(names if files is None else files)
    return Teardown(tuple(removed), stopped, deleted)


def _processes_in(namespaces: set[tuple[int, int]]) -> list[int]:
    me = os.getpid()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            st = os.stat(f"/proc/{entry.name}/ns/net")
        except OSError:  # gone, or a kernel thread
            continue
        if (st.st_dev, st.st_ino) in namespaces:
            found.append(int(entry.name))
    return found


def _stop_processes(namespaces: set[tuple[int, int]]) -> tuple[int, ...]:
    pids = _processes_in(namespaces) if namespaces else []
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + TERM_GRACE_SECONDS
        while time.monotonic() < deadline and _processes_in(namespaces):
            time.sleep(0.02)
        if not _processes_in(namespaces):
            break
    return tuple(pids)


# -- the context manager -------------------------------------------------------------------------


@contextmanager
def lab(plan: LabPlan, *, serve: bool = True, dns: LabDNS | None = None) -> Iterator[RunningLab]:
    """Build ``plan``, start its pod servers, and always take it all down again.

    With ``dns`` (``LabDNS.of(cluster.dns)``) every pod gets its ``resolv.conf`` and the
    CoreDNS pods serve the zone; ``running.servers.update_dns(...)`` re-syncs it.

    SIGINT raises :class:`KeyboardInterrupt` and SIGTERM :class:`SystemExit` (143) inside the
    block, so the teardown runs; during the teardown both are held back, and the previous
    handlers are restored at the end. (Handlers can only be set from the main thread;
    elsewhere the signals keep their handlers and only normal exits are covered.)

    pyroute2 forks helpers that inherit these handlers and briefly live in lab namespaces; in
    any process but the one that entered this block the handlers fall back to the default
    action and the teardown is skipped, so a helper never unwinds the caller's lab.
    """
    owner = os.getpid()
    created: list[str] = []
    with _signals(_raise_for(owner)):
        try:
            _build(plan, created, dns)
            servers = PodServers.start(plan, dns=dns) if serve else None
            try:
                yield RunningLab(plan, servers, dns)
            finally:
                if servers is not None and os.getpid() == owner:
                    with _signals(_hold(owner)):
                        servers.stop()
        finally:
            if os.getpid() == owner:
                with _signals(_hold(owner)):
                    _remove(created)


Handler = Callable[[int, FrameType | None], None]


def _default_action(signum: int) -> None:
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _raise_for(owner: int) -> Handler:
    def handler(signum: int, frame: FrameType | None) -> None:
        if os.getpid() != owner:
            _default_action(signum)
        elif signum == signal.SIGINT:
            raise KeyboardInterrupt
        else:
            raise SystemExit(128 + signum)

    return handler


def _hold(owner: int) -> Handler:
    def handler(signum: int, frame: FrameType | None) -> None:
        # A second Ctrl-C must not cut the teardown short; the first one is already unwinding.
        if os.getpid() != owner:
            _default_action(signum)

    return handler


@contextmanager
def _signals(handler: Handler) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
