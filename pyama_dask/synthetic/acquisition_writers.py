"""How the simulated microscope stores what it acquires: per-plane TIFF files, or an OME-Zarr that grows.

Each writer stores one (FOV, time point) with all its channels at a time, the way
acquisition software does: TIFF files written in place (not renamed when whole),
Zarr chunks written next to an array whose shape along T grows (before the
chunks, or after them). One plane can be written in two parts with a pause, so
that a reader finds it present but incomplete.
"""

from __future__ import annotations

import dataclasses
import io
import json
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

import numpy as np
import tifffile
import zarr

from pyama_dask.io.inputs.plane_files import METAMORPH, MICRO_MANAGER
from pyama_dask.synthetic.spec import SyntheticSpec

#: Acquisition time of the first frame (fixed: equal specs give equal files).
ACQUISITION_START = datetime(2026, 1, 1, 8, 0, 0)
#: Time point chunks of the OME-Zarr are written before (``"chunks-first"``) or after (``"shape-first"``) its shape grows.
ZARR_GROWTH = ("shape-first", "chunks-first")
NGFF_VERSIONS = ("0.4", "0.5")
TIFF_NAMINGS = ("metamorph", "micro-manager")


class AcquisitionWriter(Protocol):
    """Stores the planes of one (FOV, time point) as a microscope does."""

    path: Path

    def write(self, fov: int, t: int, planes: np.ndarray, partial: int | None, pause: float) -> None:
        """Store ``planes`` (C, H, W); channel ``partial`` (if any) in two parts with ``pause`` seconds between."""


def write_in_two_parts(path: Path, data: bytes, pause: float) -> None:
    """Write ``data`` to ``path``: its first half, then after ``pause`` seconds the rest (a file seen half-written)."""
    half = len(data) // 2
    with open(path, "wb") as file:
        file.write(data[:half])
        file.flush()
        time.sleep(pause)
        file.write(data[half:])


def _write_file(path: Path, data: bytes, partial: bool, pause: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if partial:
        write_in_two_parts(path, data, pause)
    else:
        path.write_bytes(data)


class TiffFolderWriter:
    """One single-plane TIFF per channel, position and time point, named as MetaMorph or Micro-Manager name them.

    MetaMorph files carry their MetaSeries acquisition time and spatial
    calibration, Micro-Manager files their ``MicroManagerMetadata`` (channel
    name, elapsed time). Positions and times count from 1 in MetaMorph's
    names, from 0 in Micro-Manager's.
    """

    def __init__(self, path: Path, spec: SyntheticSpec, naming: str = "metamorph") -> None:
        if naming not in TIFF_NAMINGS:
            raise ValueError(f"TIFF naming {naming!r} is not one of {', '.join(TIFF_NAMINGS)}")
        self.path = path
        self.spec = spec
        self.naming = naming
        path.mkdir(parents=True, exist_ok=True)

    def write(self, fov: int, t: int, planes: np.ndarray, partial: int | None, pause: float) -> None:
        """Write one file per channel (see :class:`AcquisitionWriter`)."""
        for channel, plane in enumerate(planes):
            _write_file(self.path / self.file_name(fov, t, channel), self._encode(fov, t, channel, plane),
                        channel == partial, pause)

    def file_name(self, fov: int, t: int, channel: int) -> str:
        """The file (relative to the folder) of one plane."""
        if self.naming == "metamorph":
            return METAMORPH.template.format(channel=self.spec.channel_names[channel], position=fov + 1, time=t + 1)
        return MICRO_MANAGER.template.format(channel=f"{channel:03d}", position=fov, time=t)

    def _encode(self, fov: int, t: int, channel: int, plane: np.ndarray) -> bytes:
        buffer = io.BytesIO()
        minutes = t * self.spec.frame_interval_min
        if self.naming == "metamorph":
            tifffile.imwrite(buffer, plane, description=self._metaseries(minutes), software="MetaSeries",
                             metadata=None)
        else:
            tags = {"Channel": self.spec.channel_names[channel], "ChannelIndex": channel, "PositionIndex": fov,
                    "FrameIndex": t, "SliceIndex": 0, "ElapsedTime-ms": minutes * 60_000,
                    "PixelSizeUm": self.spec.pixel_size_um}
            tifffile.imwrite(buffer, plane, metadata=None,
                             extratags=[(51123, "s", 0, json.dumps(tags), True)])  # 51123: MicroManagerMetadata
        return buffer.getvalue()

    def _metaseries(self, minutes: float) -> str:
        """A MetaSeries description: acquisition time and spatial calibration (what the reader uses)."""
        stamp = (ACQUISITION_START + timedelta(minutes=minutes)).strftime("%Y%m%d %H:%M:%S.%f")[:-3]
        props = {
            "spatial-calibration-state": ("bool", "on"),
            "spatial-calibration-x": ("float", self.spec.pixel_size_um),
            "spatial-calibration-y": ("float", self.spec.pixel_size_um),
            "spatial-calibration-units": ("string", "um"),
            "acquisition-time-local": ("time", stamp),
        }
        plane_info = "".join(f'<prop id="{key}" type="{kind}" value="{value}">\n</prop>\n'
                             for key, (kind, value) in props.items())
        return (f'<MetaData>\n<prop id="Description" type="string" value="pyama-dask simulated acquisition">\n'
                f"</prop>\n<PlaneInfo>\n{plane_info}</PlaneInfo>\n<SetInfo>\n</SetInfo>\n</MetaData>")


class OmeZarrWriter:
    """An OME-Zarr image (NGFF 0.4 on Zarr v2, or 0.5 on Zarr v3) whose T axis grows frame by frame.

    One array per FOV (``p0``, ``p1``...) in the root group, axes ``t, c, y, x``,
    one chunk per time point and channel; the root's ``multiscales`` lists one
    image per FOV and ``omero`` names the channels. ``growth`` says whether a
    time point's chunks are written after the array's shape grew to include it
    (``"shape-first"``) or before (``"chunks-first"``).
    """

    def __init__(self, path: Path, spec: SyntheticSpec, ngff_version: str = "0.5",
                 growth: str = "shape-first") -> None:
        if ngff_version not in NGFF_VERSIONS:
            raise ValueError(f"NGFF version {ngff_version!r} is not one of {', '.join(NGFF_VERSIONS)}")
        if growth not in ZARR_GROWTH:
            raise ValueError(f"Zarr growth {growth!r} is not one of {', '.join(ZARR_GROWTH)}")
        self.path = path
        self.spec = spec
        self.growth = growth
        self._zarr_format = 3 if ngff_version == "0.5" else 2
        root = zarr.open_group(path, mode="w", zarr_format=self._zarr_format)
        self._arrays = [self._create_array(root, f"p{fov}", 0) for fov in range(spec.n_fovs)]
        attributes = {"multiscales": [self._multiscale(fov) for fov in range(spec.n_fovs)],
                      "omero": {"channels": [{"label": name, "color": "FFFFFF", "active": True}
                                             for name in spec.channel_names]}}
        if self._zarr_format == 3:
            root.attrs["ome"] = {"version": ngff_version, **attributes}
        else:
            for multiscale in attributes["multiscales"]:
                multiscale["version"] = ngff_version
            root.attrs.update(attributes)

    def write(self, fov: int, t: int, planes: np.ndarray, partial: int | None, pause: float) -> None:
        """Write the time point's chunks and grow the array's shape, in the order of ``growth``."""
        array = self._arrays[fov]
        grown = (t + 1, *array.shape[1:])
        if self.growth == "shape-first":
            array.resize(grown)
        # The chunks of a time point beyond the stored shape are written through a view of the grown shape.
        current = array._async_array
        view = zarr.Array(type(current)(metadata=dataclasses.replace(current.metadata, shape=grown),
                                        store_path=current.store_path, config=current.config))
        for channel, plane in enumerate(planes):
            if channel == partial:
                self._write_chunk_in_two_parts(fov, t, channel, plane, pause)
            else:
                view[t, channel] = plane
        if self.growth == "chunks-first":
            array.resize(grown)

    def _write_chunk_in_two_parts(self, fov: int, t: int, channel: int, plane: np.ndarray, pause: float) -> None:
        """Encode the chunk in a scratch array of the same layout, then write its bytes in two parts."""
        with tempfile.TemporaryDirectory(prefix="simulated-chunk-") as scratch_dir:
            scratch = self._create_array(zarr.open_group(scratch_dir, mode="w", zarr_format=self._zarr_format),
                                         "scratch", t + 1)
            scratch[t, channel] = plane
            key = scratch.metadata.encode_chunk_key((t, channel, 0, 0))
            data = (Path(scratch_dir) / "scratch" / key).read_bytes()
        _write_file(self.path / f"p{fov}" / key, data, True, pause)

    def _create_array(self, group: zarr.Group, name: str, n_frames: int) -> zarr.Array:
        height, width = self.spec.shape
        layout = ({"dimension_names": ["t", "c", "y", "x"]} if self._zarr_format == 3
                  else {"chunk_key_encoding": {"name": "v2", "separator": "/"}})
        return group.create_array(name, shape=(n_frames, len(self.spec.channel_names), height, width),
                                  chunks=(1, 1, height, width), dtype="uint16", fill_value=0, **layout)

    def _multiscale(self, fov: int) -> dict:
        pixel = self.spec.pixel_size_um
        return {
            "name": f"p{fov}",
            "axes": [{"name": "t", "type": "time", "unit": "minute"}, {"name": "c", "type": "channel"},
                     {"name": "y", "type": "space", "unit": "micrometer"},
                     {"name": "x", "type": "space", "unit": "micrometer"}],
            "datasets": [{"path": f"p{fov}", "coordinateTransformations": [
                {"type": "scale", "scale": [self.spec.frame_interval_min, 1.0, pixel, pixel]}]}],
        }
