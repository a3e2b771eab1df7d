# An ExternalName Service answers with a CNAME to the outside name.
ksl dns upstream -f docs/examples/externalname.yaml
