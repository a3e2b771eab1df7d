# An outside client reaches node port 30080 on the node that runs the echo pod.
ksl trace --src 203.0.113.7 --dst node/kind-worker --dport 30080 -f docs/examples/nodeport-local.yaml -o mermaid
