# What kube-proxy (nftables mode) programs on kind-worker for the web Service.
# excerpt: default/web/
ksl render --mode nftables -f docs/examples/web.yaml --node kind-worker
