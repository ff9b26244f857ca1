"""pyama_dask: the PyAMA-core workflow on Dask."""
