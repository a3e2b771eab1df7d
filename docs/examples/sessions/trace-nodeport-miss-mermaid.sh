# The same packet sent to a node without an echo pod.
ksl trace --src 203.0.113.7 --dst node/kind-worker2 --dport 30080 -f docs/examples/nodeport-local.yaml -o mermaid
