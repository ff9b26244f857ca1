"""Pure array algorithms of the five workflow steps: numpy in, numpy out; no I/O, no Dask."""
