"""``python -m k8s_service_lab`` runs the ``ksl`` command line."""

from k8s_service_lab.cli.main import run

if __name__ == "__main__":
    run()
