# Every chain kube-proxy writes on the node, and what each is for.
ksl render --explain -f docs/examples/web.yaml
