"""The flows, their parameters, task runners and the `forecast-flows` command line."""

from flows.local_server import temporary_server_defaults

# Before any flow call starts Prefect's temporary API: every entry point (scripts, notebooks, the CLI).
temporary_server_defaults()
