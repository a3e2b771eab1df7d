"""The kernel tier's ground floor: a lab namespace where the real kernel DNATs a ClusterIP.

This is the smallest version of what the cluster-in-a-box does: kube-proxy-shaped rules
loaded with the nft-backed ``iptables-restore`` (as on kind nodes), a TCP server, and a
connection to a virtual IP that only netfilter can deliver. If this fails, no lab can work.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.kernel.conftest import ScratchNamespace

pytestmark = pytest.mark.kernel

RULES = """\
*nat
:KUBE-SERVICES - [0:0]
:KUBE-SVC-NPX46M4PTMTKRN6Y - [0:0]
:KUBE-SEP-TEST0000000000000 - [0:0]
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m comment --comment "default/kubernetes:https cluster IP" -m tcp --dport 443 -j KUBE-SVC-NPX46M4PTMTKRN6Y
-A KUBE-SVC-NPX46M4PTMTKRN6Y -m comment --comment "default/kubernetes:https -> 192.0.2.1:6443" -j KUBE-SEP-TEST0000000000000
-A KUBE-SEP-TEST0000000000000 -p tcp -m comment --comment default/kubernetes:https -m tcp -j DNAT --to-destination 192.0.2.1:6443
COMMIT
"""

SERVER = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("192.0.2.1", 6443)); s.listen(1); print("ready", flush=True)
c, peer = s.accept(); c.sendall(b"hello from " + peer[0].encode()); c.close()
"""

CLIENT = """
import socket
c = socket.create_connection(("10.96.0.1", 443), timeout=5)
print(c.recv(100).decode())
"""


def test_clusterip_dnat_in_a_scratch_namespace(scratch_netns: ScratchNamespace) -> None:
    ns = scratch_netns
    # A veth pair with both ends inside the namespace: an interface to hang the address on.
    ns.run("ip", "link", "add", "ksl0", "type", "veth", "peer", "name", "ksl1")
    ns.run("ip", "addr", "add", "192.0.2.1/24", "dev", "ksl0")
    ns.run("ip", "link", "set", "ksl0", "up")
    ns.run("ip", "link", "set", "ksl1", "up")
    # Without a route, a connection to the ClusterIP fails before nat OUTPUT can DNAT it.
    ns.run("ip", "route", "add", "default", "via", "192.0.2.254", "dev", "ksl0", "onlink")
    ns.run("iptables-nft-restore", "--noflush", input=RULES)
    assert "KUBE-SVC-NPX46M4PTMTKRN6Y" in ns.run("iptables-nft-save", "-t", "nat")

    with ns.popen(sys.executable, "-c", SERVER) as server:
        try:
            assert server.stdout is not None
            assert server.stdout.readline().strip() == "ready"
            reply = ns.run(sys.executable, "-c", CLIENT).strip()
            assert reply == "hello from 192.0.2.1"
            server.wait(timeout=10)
        finally:
            if server.poll() is None:
                server.kill()
    # The kernel remembers the translation: original tuple to the VIP, reply from the server.
    conntrack = ns.run("conntrack", "-L", "-p", "tcp", "--orig-dst", "10.96.0.1")
    assert "dport=443" in conntrack
    assert "src=192.0.2.1" in conntrack


def test_nfacct_counters_exist_per_namespace(scratch_netns: ScratchNamespace) -> None:
    # kube-proxy's rules reference nfacct counters; iptables-restore fails without them.
    ns = scratch_netns
    ns.run("nfacct", "add", "localhost_nps_accepted_pkts")
    assert "localhost_nps_accepted_pkts" in ns.run("nfacct", "list")
    host = subprocess.run(["nfacct", "list"], capture_output=True, text=True).stdout
    assert "localhost_nps_accepted_pkts" not in host
