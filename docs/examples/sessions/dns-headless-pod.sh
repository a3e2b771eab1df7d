# One pod of a headless Service, by its own name.
ksl dns db-0.db -f docs/examples/headless.yaml
