# The same trace, drawn as a mermaid flowchart.
ksl trace --src pod/default/client --dst svc/default/web -f docs/examples/web.yaml -f docs/examples/client.yaml -o mermaid
