"""The service: the HTTP app (api/), the serving engine (serving/) and the `ganforge` command (cli/). Imports core and
models, never worker."""
