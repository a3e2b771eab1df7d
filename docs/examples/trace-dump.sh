#!/usr/bin/env bash
# Trace through a saved rules file instead of the embedded cluster.
# On a real kind node you would save the rules with:
#     docker exec kind-worker iptables-save > node.rules
# Here ksl writes the same text (what kube-proxy and kubelet leave on kind-worker).
set -euo pipefail
rules=$(mktemp)
trap 'rm -f "$rules"' EXIT

ksl render --as-save --node kind-worker -f docs/examples/web.yaml -f docs/examples/client.yaml >"$rules"
cluster_ip=$(ksl get services web -f docs/examples/web.yaml -f docs/examples/client.yaml | awk 'NR == 2 {print $3}')

ksl trace --dump "$rules" --node-ip 172.18.0.3 --cluster-cidr 10.244.0.0/16 \
    --src 10.244.2.3 --dst "$cluster_ip" --dport 80
