# The client-to-web trace again, through kube-proxy's nftables rules, as a mermaid flowchart.
ksl trace --mode nftables --src pod/default/client --dst svc/default/web -f docs/examples/web.yaml -f docs/examples/client.yaml -o mermaid
