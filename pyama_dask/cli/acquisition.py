"""``pyama-dask simulate-acquisition``: write the synthetic dataset frame by frame, as a microscope acquires it."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from pyama_dask.io.inputs.growing import LAYOUTS
from pyama_dask.synthetic.acquisition import parse_interval, simulate_acquisition
from pyama_dask.synthetic.acquisition_writers import NGFF_VERSIONS, TIFF_NAMINGS, ZARR_GROWTH
from pyama_dask.synthetic.spec import SyntheticSpec

logger = logging.getLogger(__name__)


def _interval(text: str) -> float:
    try:
        return parse_interval(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_simulate_acquisition_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``simulate-acquisition``."""
    parser.add_argument("out", help="folder of TIFF files to write, or with --layout ome-zarr the OME-Zarr (*.zarr)")
    parser.add_argument("--layout", choices=LAYOUTS, default="tiff-folder",
                        help="per-plane TIFF files (default) or an OME-Zarr whose T axis grows")
    parser.add_argument("--interval", type=_interval, default=5.0, metavar="DURATION",
                        help="time between two time points, e.g. 5s (default), 0.2s, 1m")
    parser.add_argument("--fovs", "--n-fovs", dest="n_fovs", type=int, default=4, help="FOVs (default 4)")
    parser.add_argument("--frames", type=int, default=40, help="time points (default 40)")
    parser.add_argument("--size", type=int, default=512, help="frame size in pixels (default 512)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--naming", choices=TIFF_NAMINGS, default="metamorph",
                        help="TIFF file names: MetaMorph's <CH>_Position<P>_time<T>.tif (default) or Micro-Manager's "
                             "Pos<P>/img_channel<C>_position<P>_time<T>_z<Z>.tif")
    parser.add_argument("--ngff-version", choices=NGFF_VERSIONS, default="0.5",
                        help="OME-Zarr: NGFF 0.5 on Zarr v3 (default) or 0.4 on Zarr v2")
    parser.add_argument("--growth", choices=ZARR_GROWTH, default="shape-first",
                        help="OME-Zarr: grow the array's shape before (default) or after writing a time point's chunks")


def simulate_acquisition_command(args: argparse.Namespace) -> int:
    """Write the acquisition; log each time point."""
    spec = SyntheticSpec(n_fovs=args.n_fovs, n_frames=args.frames, size=args.size, seed=args.seed)
    path = simulate_acquisition(
        Path(args.out), spec, args.layout, args.interval, naming=args.naming, ngff_version=args.ngff_version,
        growth=args.growth, progress=lambda done, total: logger.info("time point %d/%d written", done, total),
    )
    print(f"acquisition complete: {path}")
    return 0
