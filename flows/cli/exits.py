"""Exit codes of every command: 0 all good; 1 some segments failed (or an endpoint is unhealthy) and the
rest was done; 2 nothing could run (bad file, bad setting)."""

EXIT_OK, EXIT_SEGMENTS_FAILED, EXIT_BAD_INPUT = 0, 1, 2
