# The rules for a NodePort Service with externalTrafficPolicy: Local, on kind-worker.
# excerpt: default/echo:
ksl render -f docs/examples/nodeport-local.yaml --node kind-worker
