"""QC figures: outlines and ids where the cells are, traces per channel, PNGs of a run."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pyama_dask.cli import main
from pyama_dask.qc import (
    cell_colour, format_minutes, frame_figure, save_png, traces_figure, tracked_cell_counts, write_qc_figures,
)


def _png(path):
    return np.asarray(Image.open(path).convert("RGB")).astype(float)


def _patch(fig, rgb, row, column, pixel_size_um, reach=2):
    """RGB values within ``reach`` display pixels of the centre of image pixel (row, column)."""
    x, y = fig.axes[0].transData.transform(((column + 0.5) * pixel_size_um, (row + 0.5) * pixel_size_um))
    y = rgb.shape[0] - y  # display coordinates count from the bottom
    return rgb[int(y) - reach:int(y) + reach + 1, int(x) - reach:int(x) + reach + 1].reshape(-1, 3)


def _has_colour(patch, rgb, tolerance=40):
    return np.abs(patch - np.asarray(rgb)).sum(axis=1).min() < tolerance


def test_outlines_and_ids_are_drawn_where_the_cells_are(tmp_path):
    rng = np.random.default_rng(0)
    image = rng.normal(1000, 50, (120, 160))
    labels = np.zeros((120, 160), np.uint16)
    labels[20:50, 30:60] = 1
    labels[70:100, 100:140] = 2
    mask = labels > 0
    mask[80:95, 20:40] = True  # segmented, but without a track
    fig = frame_figure(image, labels, mask, pixel_size_um=0.5, title="test")
    path = tmp_path / "frame.png"
    save_png(fig, path)
    rgb = _png(path)

    assert rgb.std() > 10
    # (a pixel on the cell's border, a pixel inside away from the border and the id)
    points = {1: ((20, 45), (26, 36)), 2: ((85, 100), (76, 106))}
    for cell, (border, inside) in points.items():
        colour = np.array(cell_colour(cell)[:3]) * 255
        assert _has_colour(_patch(fig, rgb, *border, 0.5), colour), f"no outline of cell {cell} on its border"
        assert np.ptp(_patch(fig, rgb, *inside, 0.5), axis=1).max() < 30, f"colour inside cell {cell}"
    # the dashed outline of the untracked object shows somewhere along its top border
    gold = np.array([255, 215, 0])
    assert any(_has_colour(_patch(fig, rgb, 80, column, 0.5), gold, 60) for column in range(22, 38, 2))
    assert {t.get_text() for t in fig.axes[0].texts} == {"1", "2"}
    assert "µm" in fig.axes[0].get_xlabel()


def test_unknown_pixel_size_draws_pixel_axes():
    labels = np.zeros((40, 60), np.uint16)
    labels[10:20, 10:30] = 1
    axes = frame_figure(np.ones((40, 60)), labels, pixel_size_um=None).axes[0]
    assert (axes.get_xlabel(), axes.get_ylabel()) == ("x (px)", "y (px)")
    assert axes.get_xlim() == (0, 60)


def test_frame_and_labels_must_match():
    with pytest.raises(ValueError, match="shape"):
        frame_figure(np.zeros((4, 4)), np.zeros((4, 5), np.uint16))


def test_tracked_cell_counts_per_frame():
    stack = np.zeros((3, 6, 6), np.uint16)
    stack[0, :2, :2], stack[0, 4:, 4:] = 1, 7
    stack[1, :2, :2] = 1
    assert tracked_cell_counts(stack).tolist() == [2, 1, 0]


def test_traces_figure_has_a_line_per_cell_and_channel():
    rows = [(channel, cell, frame, frame * 5.0, cell * 10.0 + frame)
            for channel in (1, 2) for cell in (1, 2, 3) for frame in range(4) if not (channel == 2 and cell == 3)]
    traces = pd.DataFrame(rows, columns=["channel", "cell", "frame", "time", "intensity_total"])
    fig = traces_figure(traces, np.arange(4) * 5.0, np.array([3, 3, 3, 2]), channel_names={1: "GFP"})
    ch1, ch2, counts = fig.axes[:3]
    assert len(ch1.lines) == 3 and len(ch2.lines) == 2
    assert ch1.get_title(loc="left") == "channel 1 (GFP)"
    np.testing.assert_array_equal(ch1.lines[2].get_ydata(), [30, 31, 32, 33])
    assert counts.get_xlabel() == "time (min)"
    assert list(counts.lines[0].get_ydata()) == [3, 3, 3, 2]


def test_figures_of_a_run(tiny_run):
    paths = write_qc_figures(tiny_run, fovs=[0, 2], frame=3)
    assert [p.name for p in paths] == ["fov_000_frame.png", "fov_000_traces.png",
                                       "fov_002_frame.png", "fov_002_traces.png"]
    for path in paths:
        assert 10_000 < path.stat().st_size < 1_000_000
        rgb = _png(path)
        assert rgb.shape[0] > 500 and rgb.shape[1] > 500
        assert rgb.std() > 10
        assert (np.ptp(rgb, axis=2) > 100).any(), f"{path.name} has no coloured pixels (outlines or lines)"


def test_qc_command(tiny_run, capsys):
    assert main(["qc", str(tiny_run), "--fovs", "1", "--frame", "0"]) == 0
    assert (tiny_run / "qc" / "fov_001_frame.png").is_file()
    assert "QC figures: 2 PNG files" in capsys.readouterr().out
    assert main(["qc", str(tiny_run), "--fovs", "1", "--frame", "8"]) == 2
    assert "frame 8 is out of range for FOV 1, which has frames 0-7" in capsys.readouterr().err
    assert main(["qc", str(tiny_run), "--fovs", "5"]) == 2
    assert "FOV(s) [5] were not processed" in capsys.readouterr().err


def _text_boxes(fig, texts):
    """Display-pixel boxes (x0, y0, x1, y1) of ``texts`` as drawn."""
    renderer = fig.canvas.get_renderer() if hasattr(fig.canvas, "get_renderer") else None
    if renderer is None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    return np.array([t.get_window_extent(renderer).extents for t in texts])


def test_ids_stay_legible_on_a_real_size_frame_of_300_touching_cells():
    height, width, pitch = 1040, 1392, 24  # three colonies of 10 x 10 cells, 22 px wide, 2 px apart
    labels = np.zeros((height, width), np.uint16)
    cell = 0
    for top, left in [(60, 80), (500, 300), (300, 900)]:
        for row in range(10):
            for column in range(10):
                cell += 1
                y, x = top + row * pitch, left + column * pitch
                labels[y:y + pitch - 2, x:x + pitch - 2] = cell
    image = np.random.default_rng(1).normal(1000, 50, (height, width))
    fig = frame_figure(image, labels, pixel_size_um=0.1)
    ids = [t for t in fig.axes[0].texts]
    boxes = _text_boxes(fig, ids)
    ax_box = fig.axes[0].get_window_extent()

    assert len(ids) == 300
    assert ax_box.width >= width and ax_box.height >= height  # a display pixel per image pixel at least
    assert min(t.get_fontsize() for t in ids) >= 6.5
    x0, y0, x1, y1 = boxes.T
    overlap = ((x0[:, None] < x1[None]) & (x0[None] < x1[:, None]) & (y0[:, None] < y1[None]) & (y0[None] < y1[:, None]))
    np.fill_diagonal(overlap, False)
    assert not overlap.any(), f"{overlap.any(axis=1).sum()} ids overlap another"
    cell_px = (pitch - 2) * ax_box.width / width
    assert (x1 - x0).max() <= cell_px, "ids are wider than their cells"


def test_cell_counts_inside_the_axes_and_rounded_times_in_the_title(tiny_run, monkeypatch):
    drawn = []
    monkeypatch.setattr("pyama_dask.qc.save_png", lambda fig, path: drawn.append(fig))
    write_qc_figures(tiny_run, fovs=[0], frame=3)
    frame = drawn[0]
    title = frame.axes[0].get_title()
    assert re.fullmatch(r"FOV 0, frame 3 \(t = \d+(\.\d)? min\)", title), title
    (note,) = [t for t in frame.axes[0].texts if "tracked cells" in t.get_text()]
    (box,) = _text_boxes(frame, [note])
    ax_box = frame.axes[0].get_window_extent()
    assert ax_box.x0 <= box[0] and box[2] <= ax_box.x1 and ax_box.y0 <= box[1] and box[3] <= ax_box.y1


@pytest.mark.parametrize("minutes, text", [(12.4999, "12.5"), (90.0, "90"), (1234.56, "1235"), (0.008333, "0.0083"),
                                           (0.0, "0")])
def test_times_in_titles_are_rounded(minutes, text):
    assert format_minutes(minutes) == text


def test_a_single_frame_movie_draws_its_points(tmp_path):
    traces = pd.DataFrame([(1, cell, 0, 0.0, 100.0 * cell) for cell in (1, 2)],
                          columns=["channel", "cell", "frame", "time", "intensity_total"])
    fig = traces_figure(traces, np.array([0.0]), np.array([2]))
    lines = [line for ax in fig.axes for line in ax.lines]
    assert len(lines) == 4 and all(line.get_marker() == "o" for line in lines)
    path = tmp_path / "traces.png"
    save_png(fig, path)
    rgb = _png(path)
    for cell in (1, 2):
        colour = np.array(cell_colour(cell)[:3]) * 255
        assert (np.abs(rgb - colour).sum(axis=2) < 40).sum() >= 9, f"no point of cell {cell}"


def test_daughters_take_shades_of_their_mother_s_colour(tmp_path):
    parents = {2: 1, 3: 1, 4: 3, 5: 3}
    mother = np.array(cell_colour(1)[:3])
    lighter, darker = np.array(cell_colour(2, parents)[:3]), np.array(cell_colour(3, parents)[:3])
    # The mother's hue, blended towards white and black; a granddaughter from her darker mother's.
    assert lighter == pytest.approx(0.6 * mother + 0.4) and darker == pytest.approx(0.6 * mother)
    assert np.array(cell_colour(4, parents)[:3]) == pytest.approx(0.6 * darker + 0.4)
    assert cell_colour(2) != cell_colour(2, parents) and cell_colour(6, parents) == cell_colour(6)

    labels = np.zeros((60, 90), np.uint16)
    labels[10:40, 10:35], labels[10:40, 50:75] = 2, 3
    fig = frame_figure(np.random.default_rng(1).normal(1000, 50, labels.shape), labels, pixel_size_um=1.0,
                       parents=parents)
    save_png(fig, tmp_path / "frame.png")
    rgb = _png(tmp_path / "frame.png")
    assert _has_colour(_patch(fig, rgb, 10, 22, 1.0, reach=6), lighter * 255)
    assert _has_colour(_patch(fig, rgb, 10, 62, 1.0, reach=6), darker * 255)
    assert not _has_colour(_patch(fig, rgb, 10, 22, 1.0, reach=6), np.array(cell_colour(2)[:3]) * 255)


def test_trace_lines_of_daughters_take_shades_of_their_mother_s_colour():
    traces = pd.DataFrame({"cell": [1, 1, 2, 3], "frame": [0, 1, 2, 2], "time": [0.0, 5.0, 10.0, 10.0],
                           "intensity_total": [1.0, 2.0, 1.5, 1.2], "channel": 1,
                           "parent": pd.array([pd.NA, pd.NA, 1, 1], dtype="Int64")})
    fig = traces_figure(traces, np.array([0.0, 5.0, 10.0]), np.array([1, 1, 2]))
    colours = {line.get_label(): line.get_color() for line in fig.axes[0].lines}
    parents = {2: 1, 3: 1}
    assert colours == {str(cell): cell_colour(cell, parents) for cell in (1, 2, 3)}
