"""Storage: reading microscopy files, the Zarr store, trace tables and the results YAML."""
