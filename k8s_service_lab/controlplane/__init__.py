"""The in-process Kubernetes control plane that everything downstream watches.

:mod:`.store` keeps objects and emits watch events; :mod:`.apiserver` admits writes the way
kube-apiserver does (defaulting, allocation, validation, all or nothing); :mod:`.controllers`
turn Deployments into Pods, Pods into EndpointSlices and LoadBalancer Services into addresses;
:mod:`.dns` answers as CoreDNS would.
"""
