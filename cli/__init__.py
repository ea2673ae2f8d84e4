"""The `amber` command line (Typer + Rich): the outermost layer, like `api/`."""
