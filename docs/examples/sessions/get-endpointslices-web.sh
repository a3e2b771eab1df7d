# The EndpointSlice the controller wrote for the web Service.
ksl get endpointslices -f docs/examples/web.yaml
