# Why has the api Service no endpoints? Its selector, compared with every pod.
ksl explain service api -f docs/examples/broken-selector.yaml
