# The rules for a LoadBalancer Service with loadBalancerSourceRanges.
# excerpt: default/shop:
ksl render -f docs/examples/loadbalancer.yaml --node kind-worker
