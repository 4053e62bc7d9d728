"""The report directory: videos with subtitles, plots and the HTML page that references them."""

import re
from types import SimpleNamespace

import av
import numpy as np
import pytest

from cordillera.eval.runner import REPORT, EvalConfig, run_eval
from cordillera.eval.videos import BEV_SIZE_PX, LINE_PX, SUBTITLE_LINES, reasoning_text, subtitle_band


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "cv"
    # constant velocity hits the stalled car at 5.2 s; the straight road is a success
    config = EvalConfig(policy="constant-velocity", suite="lane_follow_straight:20000,stalled_vehicle:20000",
                        out=str(out), duration_s=6.0, success_videos=1)
    return config, run_eval(config)


def test_failure_and_success_videos(run):
    _, result = run
    assert set(result.videos) == {"lane_follow_straight:20000", "stalled_vehicle:20000"}
    failure = result.videos["stalled_vehicle:20000"]
    assert failure["kind"] == "failure" and result.videos["lane_follow_straight:20000"]["kind"] == "success"
    with av.open(str(result.out / failure["video"])) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 61  # the reset state and 60 steps of 0.1 s
    height = BEV_SIZE_PX + SUBTITLE_LINES * LINE_PX + 6
    assert frames[0].shape[0] == height and frames[0].shape[1] > BEV_SIZE_PX  # BEV, cameras, subtitle band
    band = frames[-1][BEV_SIZE_PX:]
    assert band[..., 0].mean() > band[..., 1].mean()  # the red FAILURE header
    assert (result.out / failure["poster"]).stat().st_size > 1000


def test_rerun_keeps_finished_videos(run):
    config, result = run
    video = result.out / result.videos["stalled_vehicle:20000"]["video"]
    before = video.stat().st_mtime_ns
    again = run_eval(config)
    assert again.ran == 0 and video.stat().st_mtime_ns == before


def test_report_references_existing_files(run):
    _, result = run
    page = (result.out / REPORT).read_text()
    assert "Cordillera closed-loop evaluation: constant-velocity on custom" in page
    assert "at-fault stopped track collision with stalled" in page
    refs = re.findall(r"(?:src|poster)='([^']+)'", page)
    assert {r.split("/")[0] for r in refs} == {"plots", "videos"}
    for ref in refs:
        assert (result.out / ref).is_file(), ref
    assert len([r for r in refs if r.startswith("plots/")]) == 4


def test_reasoning_text_of_every_form():
    assert reasoning_text("  Yield to   the cyclist ") == "Yield to the cyclist"
    assert reasoning_text({"text": "Stop.", "decision": {}}) == "Stop."
    assert reasoning_text(SimpleNamespace(text="Nudge left around the cone")) == "Nudge left around the cone"
    assert reasoning_text(SimpleNamespace(text="")) is None and reasoning_text(None) is None


def test_subtitle_band_wraps_long_reasoning():
    band = subtitle_band(400, "child_ball:3 | vla:x | t 1.0 s | success", "word " * 200, alert=False)
    assert band.shape == (SUBTITLE_LINES * LINE_PX + 6, 400, 3)
    rows_with_text = np.flatnonzero(band.max(axis=(1, 2)) > 0)
    assert rows_with_text.max() > 2 * LINE_PX - 8  # the body reached the last line, and was cut there
