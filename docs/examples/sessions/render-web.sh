# What kube-proxy (iptables mode) programs on kind-worker for the web Service.
# excerpt: default/web:
ksl render -f docs/examples/web.yaml --node kind-worker
