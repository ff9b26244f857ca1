"""Orchestration: context, plan, submission to a Dask cluster and progress."""
