"""The ``mirrorguard`` command line (Typer + Rich). Commands only parse arguments and call the
library; one module per command group."""
