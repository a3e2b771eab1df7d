# A new connection from the client pod to the web Service, through kind-worker2's rules.
ksl trace --src pod/default/client --dst svc/default/web -f docs/examples/web.yaml -f docs/examples/client.yaml
