"""The ``ksl`` command line: one module per command group, heavy imports deferred.

``ksl --help`` must start in well under 0.3 s, so this package imports only typer at start-up;
each command imports what it needs when it runs.
"""
