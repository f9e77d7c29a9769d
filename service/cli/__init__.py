"""The `ganforge` command: the local stack (`up`), the API and worker launchers, status, keys and the user commands;
the embedded Redis and the helpers that start and stop processes."""
