"""Checks made before any work starts."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pyama_dask.io.inputs.common import MicroscopyMetadata
from pyama_dask.pipeline.context import Channels
from pyama_dask.workflow.validate import (
    check_output_outside_input,
    check_request,
    ensure_writable_dir,
    input_notes,
    resolve_channel,
    resolve_fov_list,
    resolve_fov_range,
    validate_channels,
    validate_z,
)


def _meta(n_fovs=5, n_channels=3):
    return MicroscopyMetadata(
        file_path=Path("/data/exp.nd2"), base_name="exp", file_type="nd2", height=64, width=64, n_frames=4,
        n_fovs=n_fovs, n_channels=n_channels, timepoints=[0.0, 1.0, 2.0, 3.0],
        channel_names=["Phase", "GFP", "RFP"][:n_channels], dtype="uint16", pixel_size_um=0.5,
        time_source="ome-deltat", fov_names=[str(i) for i in range(n_fovs)], fov_shapes=[(4, 64, 64)] * n_fovs,
    )


@pytest.mark.parametrize("start, end, expected", [
    (None, None, [0, 1, 2, 3, 4]), (-1, -1, [0, 1, 2, 3, 4]), (2, None, [2, 3, 4]), (1, 1, [1]), (0, 3, [0, 1, 2, 3]),
])
def test_fov_range(start, end, expected):
    assert resolve_fov_range(_meta(), start, end) == expected


@pytest.mark.parametrize("start, end, message", [
    (3, 1, "reversed"), (0, 5, "out of range.*5 FOV"), (7, 8, "out of range"), (-2, 1, "out of range"),
])
def test_bad_fov_range_names_file(start, end, message):
    with pytest.raises(ValueError, match=message) as info:
        resolve_fov_range(_meta(), start, end)
    assert "exp.nd2" in str(info.value)


def test_reversed_range_past_the_last_fov_says_reversed():
    with pytest.raises(ValueError, match="FOV range 7-1 is reversed"):
        resolve_fov_range(_meta(), 7, 1)


def test_fov_list_sorted_once_each():
    assert resolve_fov_list(_meta(), [4, 0, 1, 0, 2]) == [0, 1, 2, 4]


@pytest.mark.parametrize("fovs, message", [
    ([0, 5, 9], "FOV\\(s\\) 5, 9 out of range for /data/exp.nd2: it has 5 FOV\\(s\\), numbered 0-4"),
    ([], "list of FOVs to process is empty"),
])
def test_bad_fov_list_names_file_and_fovs(fovs, message):
    with pytest.raises(ValueError, match=message):
        resolve_fov_list(_meta(), fovs)


def test_check_request_takes_a_list_or_a_range_not_both(tmp_path):
    from pyama_dask.pipeline.context import ProcessingContext

    context = ProcessingContext(tmp_path / "out", Channels(pc=0, fl=[1]))
    assert check_request(_meta(), context, fovs=[3, 1])[0] == [1, 3]
    assert check_request(_meta(), context, 1, 2)[0] == [1, 2]
    with pytest.raises(ValueError, match="either a FOV range .* or a list of FOVs"):
        check_request(_meta(), context, 0, 1, fovs=[3])


@pytest.mark.parametrize("given, index", [("0", 0), ("2", 2), ("-1", -1), ("gfp", 1), ("RFP", 2), (" Phase ", 0)])
def test_channel_by_index_or_name_ignoring_case(given, index):
    assert resolve_channel(_meta(), given, "fluorescence") == index


def test_unknown_channel_name_lists_the_file_channels():
    with pytest.raises(ValueError, match="fluorescence channel 'YFP' is not a channel name of /data/exp.nd2; "
                                         "its channels are 0=Phase, 1=GFP, 2=RFP"):
        resolve_channel(_meta(), "YFP", "fluorescence")


def test_a_name_two_channels_share_is_refused():
    meta = dataclasses.replace(_meta(), channel_names=["GFP", "gfp", "RFP"])
    with pytest.raises(ValueError, match="'Gfp' is the name of several channels"):
        resolve_channel(meta, "Gfp", "fluorescence")


@pytest.mark.parametrize("channels, message", [
    (Channels(pc=3, fl=[1]), "segmented channel 3 is out of range.*3 channel.*0=Phase, 1=GFP, 2=RFP"),
    (Channels(pc=0, fl=[-1]), "fluorescence channel -1 is out of range"),
    (Channels(pc=0, fl=[1, 1]), "list a channel twice"),
])
def test_bad_channels(channels, message):
    with pytest.raises(ValueError, match=message):
        validate_channels(_meta(), channels)


def test_good_channels_pass():
    validate_channels(_meta(), Channels(pc=0, fl=[2, 1]))


def test_segmented_channel_may_be_measured_too():
    validate_channels(_meta(), Channels(pc=1, fl=[1, 2]))  # a fluorescence-only movie: segment and measure 1


def test_output_dir_created(tmp_path):
    ensure_writable_dir(tmp_path / "a" / "b")
    assert (tmp_path / "a" / "b").is_dir()


def test_output_dir_that_is_a_file(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(OSError, match="file"):
        ensure_writable_dir(target)


def test_z_choice_is_checked_against_the_file():
    stack = dataclasses.replace(_meta(), n_z=3)
    for z in (None, 0, 2, "max"):
        validate_z(stack, z)
    for z in (3, -1, "top", True):
        with pytest.raises(ValueError, match=r"Z plane .* is out of range for /data/exp.nd2: it has 3 Z plane"):
            validate_z(stack, z)


def test_run_notes_say_how_time_and_z_are_taken():
    meta = dataclasses.replace(_meta(), n_z=3, time_source="frame-index", time_notes=["the frame index stands in"])
    assert input_notes(meta, "max") == ["the frame index stands in"]
    assert input_notes(meta, None)[1].startswith("it has 3 Z planes; the run uses plane 0")
    assert input_notes(_meta(), None) == []


@pytest.mark.parametrize("given, out, refused", [
    ("input.zarr", "input.zarr/results", True),                 # a folder input: every file under it
    ("series/*_Position1_time*.tif", "series/out", True),       # a pattern stands for its folder's files
    ("series", "series_results", False),
    ("experiment.nd2", "results", False),                       # a single file: outputs next to it are fine
    ("series", "link_to_series/out", True),                     # the same folder through a symbolic link
])
def test_an_output_directory_inside_the_input_folder_is_refused(tmp_path, given, out, refused):
    (tmp_path / "input.zarr").mkdir()
    (tmp_path / "series").mkdir()
    (tmp_path / "link_to_series").symlink_to(tmp_path / "series")
    (tmp_path / "experiment.nd2").touch()
    if refused:
        with pytest.raises(ValueError, match=r"is inside the input folder .*choose an output directory outside"):
            check_output_outside_input(tmp_path / given, tmp_path / out)
    else:
        check_output_outside_input(tmp_path / given, tmp_path / out)
