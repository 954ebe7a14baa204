"""One module per benchmark suite; see :mod:`mirrorguard.bench.registry`."""
