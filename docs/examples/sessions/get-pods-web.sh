# Where the scheduler put the web pods and the client, and the IP each one got.
ksl get pods -o wide -f docs/examples/web.yaml -f docs/examples/client.yaml
