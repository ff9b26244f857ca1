"""Workers start with the tasks imported and every compiled kernel the steps call already loaded."""

from __future__ import annotations

from distributed import Client

from pyama_dask.io.inputs.microscopy import read_metadata
from pyama_dask.pipeline.context import Channels, ProcessingContext
from pyama_dask.workflow.clusters import make_cluster
from pyama_dask.workflow.run import run_complete_workflow


def test_a_run_loads_no_kernel_beyond_those_its_workers_started_with(tiny_dataset, tmp_path) -> None:
    def kernel_signatures() -> dict[str, int]:  # nested: travels to the worker by value
        import sys

        counts = {}
        for name in ("segmentation_kernels", "background_kernels", "morphology_kernels"):
            module = sys.modules.get(f"pyama_dask.algorithms.{name}")
            kernels = {} if module is None else vars(module)
            # Private kernels are called by the others only, compiled into them: they keep no signature.
            counts.update({f"{name}.{attr}": len(value.signatures) for attr, value in kernels.items()
                           if hasattr(value, "signatures") and not attr.startswith("_")})
        return counts

    context = ProcessingContext(tmp_path, Channels(pc=0, fl=[1, 2]), params={"min_trace_length": 5})
    with make_cluster("local", n_workers=1, dashboard_address=":0") as cluster, Client(cluster) as client:
        (started,) = client.run(kernel_signatures).values()
        assert run_complete_workflow(read_metadata(tiny_dataset.image_path), context, client=client)
        (after_run,) = client.run(kernel_signatures).values()
    assert len(started) >= 10 and all(started.values())  # each module's kernels, loaded before any task
    assert after_run == started
