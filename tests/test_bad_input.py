"""Bad input is refused clearly by ``pyama-dask run``, before any work and without touching the output directory.

One table: each case is a command line (and the files it needs); each must
exit with code 2 and one message that names the file, FOV, channel or
parameter and says what is wrong, with no traceback, leaving everything in
its folder (the output directory included) as it was. Inputs that are only
found bad once their pixels are read, and scenes of different shapes, come
after the table.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import zarr

import pyama_dask.cli.commands as commands
from pyama_dask.cli import main
from pyama_dask.io.inputs.microscopy import read_metadata
from pyama_dask.io.store import STORE_NAME, ImageRef, open_image

# (case, command line after "run", config file text or None, results file text or None, message fragments).
# {tiny}: a valid 3-FOV, 3-channel OME-TIFF; {inputs}: the folder of bad inputs; {out}: the output directory.
CASES = [
    ("missing file", ["{inputs}/missing.nd2"], None, None, ["{inputs}/missing.nd2: no such file or directory"]),
    ("directory instead of a file", ["{inputs}/a_folder"], None, None,
     ["{inputs}/a_folder: not a recognised input"]),
    ("empty file", ["{inputs}/empty.nd2"], None, None, ["{inputs}/empty.nd2: the file is empty (0 bytes)"]),
    ("truncated ND2", ["{inputs}/truncated.nd2"], None, None,
     ["{inputs}/truncated.nd2: cannot read the metadata", "truncated or damaged"]),
    ("truncated TIFF", ["{inputs}/truncated.tif"], None, None,
     ["{inputs}/truncated.tif: cannot read the metadata", "truncated or damaged"]),
    ("unsupported format", ["{inputs}/plate.xyz"], None, None,
     ["{inputs}/plate.xyz: unsupported format '.xyz'", ".nd2"]),
    ("text file renamed .nd2", ["{inputs}/notes.nd2"], None, None,
     ["{inputs}/notes.nd2: not a valid .nd2 file"]),
    ("dimension order", ["{tiny}", "--dim-order", "TQYX"], None, None, ["{tiny}: dim_order 'TQYX' must use"]),
    ("fluorescence channel out of range", ["{tiny}", "--fl", "3"], None, None,
     ["fluorescence channel 3 is out of range for {tiny}: it has 3 channel(s) (0=Phase, 1=GFP, 2=mCherry)"]),
    ("segmented channel out of range", ["{tiny}", "--pc", "7", "--fl", "1"], None, None,
     ["segmented channel 7 is out of range for {tiny}"]),
    ("negative channel", ["{tiny}", "--fl", "-1"], None, None,
     ["fluorescence channel -1 is out of range for {tiny}"]),
    ("Z plane out of range", ["{tiny}", "--z", "1"], None, None,
     ["Z plane 1 is out of range for {tiny}: it has 1 Z plane(s), numbered 0-0"]),
    ("Z given as neither index nor max", ["{tiny}", "--z", "top"], None, None,
     ["--z takes a Z plane index or 'max', got 'top'"]),
    ("a channel selected twice", ["{tiny}", "--fl", "2", "2"], None, None,
     ["fluorescence channels [2, 2] list a channel twice"]),
    ("no phase-contrast channel", ["{tiny}", "--fl", "1", "--pc"], None, None,
     ["argument --pc: expected one argument"]),
    ("unknown channel name", ["{tiny}", "--fl", "YFP"], None, None,
     ["fluorescence channel 'YFP' is not a channel name of {tiny}; its channels are 0=Phase, 1=GFP, 2=mCherry"]),
    ("unknown segmented channel name", ["{tiny}", "--pc", "DIC", "--fl", "GFP"], None, None,
     ["segmented channel 'DIC' is not a channel name of {tiny}; its channels are 0=Phase, 1=GFP"]),
    ("FOV range reversed", ["{tiny}", "--fovs", "3-1"], None, None,
     ["argument --fovs: FOV range 3-1 is reversed: write 1-3"]),
    ("FOV range reversed in a list", ["{tiny}", "--fovs", "0,2-1"], None, None,
     ["argument --fovs: FOV range 2-1 is reversed: write 1-2"]),
    ("FOV range out of range", ["{tiny}", "--fovs", "1-3"], None, None,
     ["FOV(s) 3 out of range for {tiny}: it has 3 FOV(s), numbered 0-2"]),
    ("FOV list out of range", ["{tiny}", "--fovs", "0,4-5"], None, None,
     ["FOV(s) 4, 5 out of range for {tiny}: it has 3 FOV(s), numbered 0-2"]),
    ("FOV range not a range", ["{tiny}", "--fovs", "first"], None, None,
     ["argument --fovs: FOVs must look like 3, 0-9 or 0-5,7,9-11, got 'first'"]),
    ("no worker", ["{tiny}", "--workers", "0"], None, None, ["number of workers must be an integer of at least 1"]),
    ("empty batch", ["{tiny}", "--batch-size", "0"], None, None, ["batch_size must be an integer of at least 1"]),
    ("config file missing", ["{tiny}", "--config", "{inputs}/none.yaml"], None, None,
     ["config file {inputs}/none.yaml does not exist"]),
    ("config file not YAML", ["{tiny}"], "params: [window: 3\n", None,
     ["config file {out}.yaml is not valid YAML"]),
    ("config file with an unknown key", ["{tiny}"], "parameters:\n  window: 3\n", None,
     ["config file {out}.yaml has unknown key(s) parameters"]),
    ("unknown parameter", ["{tiny}"], "params:\n  windw: 5\n", None,
     ["unknown parameter 'windw'", "Did you mean 'window'?"]),
    ("parameter of the wrong type", ["{tiny}"], "params:\n  window: three\n", None,
     ["parameter 'window' must be", "got 'three'"]),
    ("parameter out of range", ["{tiny}"], "params:\n  min_iou: 2\n", None, ["parameter 'min_iou' must be", "got 2"]),
    ("parameters not a mapping", ["{tiny}"], "params: [window, 3]\n", None,
     ["config file {out}.yaml: 'params' must be a mapping, got list"]),
    ("results file malformed", ["{tiny}"], None, "input_file: [unclosed\n",
     ["{out}/processing_results.yaml is not valid YAML", "move it away"]),
    ("results file of another input", ["{tiny}"], None, "input_file: /elsewhere/other.nd2\n",
     ["{out}/processing_results.yaml records results of /elsewhere/other.nd2, not of {tiny}",
      "another output directory"]),
    ("results file edited by hand", ["{tiny}"], None, "input_file: {tiny}\nresults_paths: [0, 1]\n",
     ["{out}/processing_results.yaml: 'results_paths' must map FOV numbers to outputs", "move it away"]),
    ("output directory inside a MetaMorph series folder", ["{inputs}/series", "--out", "{inputs}/series/out"],
     None, None, ["output directory {inputs}/series/out is inside the input folder {inputs}/series",
                  "choose an output directory outside {inputs}/series, e.g. {inputs}/series_results"]),
    ("output directory next to the series file given", ["{inputs}/series/YFP_Position4_time10.tif", "--out",
                                                        "{inputs}/series/results"], None, None,
     ["output directory {inputs}/series/results is inside the input folder {inputs}/series"]),
    ("output directory is a file", ["{tiny}", "--out", "{inputs}/notes.nd2"], None, None,
     ["output directory {inputs}/notes.nd2 exists and is not a directory"]),
    ("output directory under a file", ["{tiny}", "--out", "{inputs}/notes.nd2/out"], None, None,
     ["output directory {inputs}/notes.nd2/out cannot be created: {inputs}/notes.nd2 is a file"]),
]


@pytest.fixture(scope="module")
def inputs(shared_data, tmp_path_factory) -> Path:
    """Bad inputs, made from real files copied and cut here (never in the repository)."""
    folder = tmp_path_factory.mktemp("bad_inputs")
    (folder / "a_folder").mkdir()
    (folder / "empty.nd2").touch()
    (folder / "notes.nd2").write_text("plate layout: A1 = wild type, A2 = mutant\n")
    (folder / "plate.xyz").write_bytes(np.random.default_rng(0).bytes(4096))
    (folder / "series").mkdir()
    for plane in (shared_data / "rcell2-examples").glob("*_Position4_time*.tif"):
        (folder / "series" / plane.name).symlink_to(plane)
    for source, name in [("arcadia-microscopy-tools/example-timelapse.nd2", "truncated.nd2"),
                         ("rcell2-examples/YFP_Position4_time10.tif", "truncated.tif")]:
        target = folder / name
        shutil.copyfile(shared_data / source, target)
        os.truncate(target, target.stat().st_size // 2)
    return folder


@pytest.fixture(scope="module")
def cached_metadata():
    """The CLI's metadata reader, remembering good files: the table reads the same valid file many times."""
    return functools.cache(read_metadata)


def _snapshot(folder: Path) -> dict[str, tuple]:
    """Every file and directory under ``folder``: kind, size, modification time, content hash."""
    entries = {}
    for path in sorted(folder.rglob("*")):
        stat = path.stat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
        entries[str(path.relative_to(folder))] = (path.is_dir(), stat.st_size, stat.st_mtime_ns, digest)
    return entries


@pytest.mark.parametrize("case, argv, config, results, fragments", CASES, ids=[case[0] for case in CASES])
def test_bad_input_is_refused_clearly_and_changes_nothing(
        case, argv, config, results, fragments, inputs, tiny_dataset, cached_metadata, tmp_path, monkeypatch,
        capsys):
    monkeypatch.setattr(commands, "read_metadata", cached_metadata)
    out = tmp_path / "out"
    names = {"tiny": tiny_dataset.image_path, "inputs": inputs, "out": out}
    command = ["run", *(arg.format(**names) for arg in argv)]
    if "--out" not in command:
        command += ["--out", str(out)]
    if "--fl" not in command:
        command += ["--fl", "1"]
    if config is not None:
        (tmp_path / "out.yaml").write_text(config)
        command += ["--config", str(tmp_path / "out.yaml")]
    if results is not None:
        out.mkdir()
        (out / "processing_results.yaml").write_text(results.format(**names))
        (out / STORE_NAME).mkdir()
    before, inputs_before = _snapshot(tmp_path), _snapshot(inputs)

    try:
        code = main([*command, "--no-progress"])
    except SystemExit as exit:  # argparse's own usage errors
        code = exit.code
    err = capsys.readouterr().err

    assert code == 2
    assert "Traceback" not in err
    message = err.strip().splitlines()[-1]
    assert message.startswith("pyama-dask run: error: ") or "error: argument" in message
    for fragment in fragments:
        assert fragment.format(**names) in message
    assert _snapshot(tmp_path) == before, "a refused run must not create or change anything"
    assert _snapshot(inputs) == inputs_before


@pytest.fixture(scope="module")
def cut_tiff(shared_data, tmp_path_factory) -> Path:
    """A 10-frame TIFF cut in half: its first pages (the metadata) are whole, its last frames are gone."""
    path = tmp_path_factory.mktemp("cut") / "movie.tif"
    shutil.copyfile(shared_data / "laptrack" / "example_images.tif", path)
    os.truncate(path, path.stat().st_size // 2)
    return path


def test_a_file_found_truncated_only_when_its_pixels_are_read_fails_its_fov_clearly(
        cut_tiff, dask_client, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["run", str(cut_tiff), "--dim-order", "TYX", "--out", str(out), "--no-progress",
                 "--scheduler", dask_client.scheduler.address])
    captured = capsys.readouterr()
    assert code == 1
    failure = next(line for line in captured.out.splitlines() if "FAILED" in line)
    assert f"copy: MicroscopyError: {cut_tiff}, FOV 0, channel 0: cannot read the pixels" in failure
    assert "the file may be truncated or damaged" in failure
    assert "Traceback" not in captured.err
    assert not (out / STORE_NAME / "fov_000" / "pc_ch_0" / "0").exists() or \
        zarr.open_group(out / STORE_NAME / "fov_000" / "pc_ch_0", mode="r").attrs["pyama"]["complete"] is None


def test_scenes_of_different_shapes_are_each_processed_with_their_own(shared_data, dask_client, tmp_path, capsys):
    czi = shared_data / "czitools" / "S3_1Pos_2Mosaic_T2_Z3_CH2_sm.czi"  # fluorescence only: DAPI as "pc"
    meta = read_metadata(czi)
    assert len(set(meta.fov_shapes)) == meta.n_fovs == 3
    config = tmp_path / "run.yaml"
    config.write_text("params:\n  min_trace_length: 1\n")
    out = tmp_path / "out"
    code = main(["run", str(czi), "--pc", "0", "--fl", "1", "--out", str(out), "--config", str(config),
                 "--no-progress", "--scheduler", dask_client.scheduler.address])
    assert code == 0, capsys.readouterr()
    assert "FOVs: 3 done, 0 failed" in capsys.readouterr().out
    for fov, shape in enumerate(meta.fov_shapes):
        for kind, channel in [("pc", 0), ("fl", 1), ("seg", 0), ("seg_labeled", 0)]:
            assert open_image(ImageRef(out, fov, kind, channel)).shape == tuple(shape)
        csv = out / f"fov_{fov:03d}" / f"{meta.base_name}_fov_{fov:03d}_traces_ch_1.csv"
        assert csv.read_text().startswith("fov,cell,frame,time,good,")


def test_without_fluorescence_channels_the_run_segments_and_tracks_only(tiny_dataset, dask_client, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["run", str(tiny_dataset.image_path), "--pc", "0", "--fovs", "0", "--out", str(out),
                 "--no-progress", "--scheduler", dask_client.scheduler.address])
    assert code == 0
    assert "FOVs: 1 done, 0 failed" in capsys.readouterr().out
    assert open_image(ImageRef(out, 0, "seg_labeled", 0)).shape == (tiny_dataset.spec.n_frames, 256, 256)
    assert not list(out.glob("fov_000/*.csv"))
