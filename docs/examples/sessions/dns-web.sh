# The name of a Service, looked up from a pod in the default namespace.
ksl dns web -f docs/examples/web.yaml
