# The nodes of a fresh kind-shaped cluster (one control plane, two workers).
ksl get nodes -o wide
