# Lab 03's packet (labs/03-clusterip-iptables-chains): the client pod to web's ClusterIP,
# on the lab's own cluster and manifests, drawn as a mermaid flowchart for the lab's page.
ksl trace --config labs/03-clusterip-iptables-chains/kind.yaml -f labs/03-clusterip-iptables-chains/manifests/web.yaml -f labs/03-clusterip-iptables-chains/manifests/client.yaml --src pod/default/client --dst svc/default/web -o mermaid
