# A packet to a Service whose selector matches no pod.
ksl trace --src pod/default/client --dst svc/default/api -f docs/examples/broken-selector.yaml -f docs/examples/client.yaml
