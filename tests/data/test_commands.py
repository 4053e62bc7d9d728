"""`cordillera datagen`, `cordillera data stats` and `cordillera data show` on a real small dataset."""

from __future__ import annotations

import json
import shutil

import pytest

from cordillera.cli import main


def test_datagen_on_a_finished_dataset_only_rewrites_meta(small_dataset, tmp_path, capsys):
    root, info = small_dataset
    out = tmp_path / "ds"
    shutil.copytree(root, out)
    before = (out / "meta" / "checksums.json").read_text()
    code = main(["datagen", "--suite", "val", "--episodes", "2", "--seed", "0", "--routine-rate", "0.3",
                 "--duration", "3.5", "--val-fraction", "0.5", "--out", str(out), "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["samples"] == info["samples"] and summary["episodes"] == 2
    assert (out / "meta" / "checksums.json").read_text() == before


def test_datagen_usage_errors(small_dataset, tmp_path, capsys):
    root, _ = small_dataset
    assert main(["datagen", "--suite", "nope", "--episodes", "1", "--out", str(tmp_path / "x")]) == 2
    assert "unknown suite 'nope'" in capsys.readouterr().err
    # another config into an existing dataset
    assert main(["datagen", "--suite", "val", "--episodes", "2", "--seed", "9", "--out", str(root)]) == 2
    assert "holds another dataset" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["datagen", "--episodes", "0", "--out", str(tmp_path / "y")])
    with pytest.raises(SystemExit):
        main(["datagen", "--episodes", "1", "--routine-rate", "2", "--out", str(tmp_path / "y")])
    with pytest.raises(SystemExit):
        main(["datagen", "--episodes", "1", "--image-size", "100x200", "--out", str(tmp_path / "y")])
    # the rendering size and frame count are part of the dataset's config: a change is another dataset
    assert main(["datagen", "--suite", "val", "--episodes", "2", "--seed", "0", "--routine-rate", "0.3",
                 "--duration", "3.5", "--val-fraction", "0.5", "--image-size", "32x64", "--frames", "2",
                 "--out", str(root)]) == 2
    assert "holds another dataset" in capsys.readouterr().err


def test_datagen_renders_the_size_and_frames_asked_for(tmp_path, capsys):
    out = tmp_path / "small"
    assert main(["datagen", "--suite", "val", "--episodes", "1", "--duration", "2.5", "--routine-rate", "0.3",
                 "--image-size", "32x64", "--frames", "2", "--out", str(out), "--json"]) == 0
    info = json.loads((out / "meta" / "info.json").read_text())
    assert (info["rig"]["height"], info["rig"]["width"], info["rig"]["frames"]) == (32, 64, 2)
    from cordillera.data import DrivingDataset

    sample = DrivingDataset(out, "all")[0]
    assert all(frames.shape == (2, 32, 64, 3) for frames in sample.cameras.values())


def test_data_stats_prints_a_table_and_writes_plots(small_dataset, tmp_path, capsys):
    root, info = small_dataset
    plots = tmp_path / "plots"
    assert main(["data", "stats", str(root), "--plots", str(plots)]) == 0
    out = capsys.readouterr().out
    assert f"{info['samples']} samples, 2 episodes" in out
    assert "decision" in out and "family" in out and "speed_mps" in out
    for name in ("decisions.png", "families.png", "distributions.png"):
        assert (plots / name).stat().st_size > 1000
    assert main(["data", "stats", str(root), "--plots", str(plots), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert sum(stats["decisions"].values()) == info["samples"]
    assert sum(v["episodes"] for v in stats["families"].values()) == 2
    assert set(stats["splits"]) == {"train", "val"}


def test_data_show_prints_the_record_and_writes_a_picture(small_dataset, tmp_path, capsys):
    root, info = small_dataset
    png = tmp_path / "s.png"
    assert main(["data", "show", str(root), "--index", "0", "--png", str(png), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["png"] == str(png) and png.stat().st_size > 10_000
    assert len(record["future"]) == 64 and record["family"]
    assert main(["data", "show", str(root), "--index", str(info["samples"]), "--png", str(png)]) == 2
    assert "out of range" in capsys.readouterr().err
    assert main(["data", "show", str(tmp_path / "missing"), "--index", "0"]) == 2
    assert "not a dataset directory" in capsys.readouterr().err
