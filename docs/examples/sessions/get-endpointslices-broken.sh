# The api Service selects no pod, so its EndpointSlice lists no endpoint.
ksl get endpointslices -f docs/examples/broken-selector.yaml
