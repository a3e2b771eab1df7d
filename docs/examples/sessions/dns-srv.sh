# The SRV record of the web Service's named port "http".
ksl dns _http._tcp.web --type SRV -f docs/examples/web.yaml
