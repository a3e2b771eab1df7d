# A headless Service: the answer lists the pods themselves.
ksl dns db -f docs/examples/headless.yaml
