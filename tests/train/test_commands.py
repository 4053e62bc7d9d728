"""`cordillera train` end to end on a small real dataset (teacher rollouts), and its one-line errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import yaml

from cordillera.cli import main
from cordillera.model import CordilleraVLA, ModelConfig
from cordillera.teacher.datagen import DatagenConfig, generate

# what `cordillera datagen --suite train --episodes 3 --seed 0 --routine-rate 0.5 --duration 3.5` makes
SMALL = DatagenConfig(suite="train", episodes=3, seed=0, routine_rate=0.5, duration_s=3.5)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "small"
    generate(SMALL, root)
    return root


def _config(tmp_path, **changes):
    doc = {"model": ModelConfig.tiny().to_dict(), "stages": [{"name": "joint", "steps": 4}],
           "data": {"batch_size": 4, "workers": 1, "tokenizer_min_frequency": 1},
           "optim": {"lr": 3e-3, "warmup_steps": 1},
           "validation": {"every_steps": 4, "max_samples": 4, "trajectories": 2, "mode": "auto"},
           "checkpoint": {"every_steps": 2}, "log_every": 1, **changes}
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(json.loads(json.dumps(doc))))
    return path


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main(["train", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def _error(capsys, *argv) -> str:
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cordillera train: error: "), err
    return lines[0]


def test_train_end_to_end_then_resume_a_finished_run(dataset, tmp_path, capsys):
    config, out = _config(tmp_path), tmp_path / "run"
    code, stdout, err = _run(capsys, "--config", config, "--data", dataset, "--out", out, "--no-progress")
    assert code == 0, err
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["step"] == 4 and summary["final"] == str(out / "final")
    model = CordilleraVLA.from_pretrained(out / "final")
    stats = json.loads((dataset / "meta" / "stats.json").read_text())["actions"]
    assert list(model.stats.mean) == pytest.approx(stats["mean"])  # normalisation from meta/stats.json
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines if r["split"] == "train"] == [1, 2, 3, 4]
    assert (out / "curves.png").is_file()
    # resuming a finished run does no step and leaves the model as it was
    before = (out / "final" / "model.safetensors").stat().st_mtime_ns
    code, stdout, err = _run(capsys, "--config", config, "--data", dataset, "--out", out, "--resume", "--no-progress")
    assert code == 0, err
    assert json.loads(stdout.strip().splitlines()[-1])["step"] == 4
    assert (out / "final" / "model.safetensors").stat().st_mtime_ns == before


def test_bad_config_is_one_line_naming_the_field(dataset, tmp_path, capsys):
    line = _error(capsys, "--config", _config(tmp_path, optimizer={"lr": 1}), "--data", dataset,
                  "--out", tmp_path / "run")
    assert "unknown key 'optimizer'" in line
    assert not (tmp_path / "run").exists()


def test_bad_dataset_is_refused_before_any_step(dataset, tmp_path, capsys):
    config = _config(tmp_path)
    copy = tmp_path / "copy"
    shutil.copytree(dataset, copy)
    info = json.loads((copy / "meta" / "info.json").read_text())
    (copy / "meta" / "info.json").write_text(json.dumps({**info, "version": 99}))
    assert "format version 99" in _error(capsys, "--config", config, "--data", copy, "--out", tmp_path / "a")
    (copy / "meta" / "info.json").write_text(json.dumps(info))
    shard = sorted((copy / "data").glob("*.parquet"))[-1]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    assert shard.name in _error(capsys, "--config", config, "--data", copy, "--out", tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_mismatched_resume_is_refused(dataset, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = _run(capsys, "--config", _config(tmp_path), "--data", dataset, "--out", out, "--no-progress",
                        "--stop-at", "2")
    assert code == 0, err
    line = _error(capsys, "--config", _config(tmp_path, seed=1), "--data", dataset, "--out", out, "--resume")
    assert "different run: train_config.seed" in line
    assert "already holds a training run" in _error(capsys, "--config", _config(tmp_path), "--data", dataset,
                                                    "--out", out)


def test_several_datasets_train_together_and_fine_tuning_starts_from_a_checkpoint(dataset, tmp_path, capsys):
    from cordillera.data import DrivingDataset

    second = tmp_path / "second"
    generate(DatagenConfig(suite="train", episodes=1, seed=5, routine_rate=0.5, duration_s=3.0), second)
    config, base, tuned = _config(tmp_path), tmp_path / "base", tmp_path / "tuned"
    code, stdout, err = _run(capsys, "--config", config, "--data", dataset, second, "--out", base, "--no-progress")
    assert code == 0, err
    sizes = [len(DrivingDataset(d, "train")) for d in (dataset, second)]
    stats = [json.loads((d / "meta" / "stats.json").read_text())["actions"]["mean"][0] for d in (dataset, second)]
    model = CordilleraVLA.from_pretrained(base / "final")
    assert model.stats.mean[0] == pytest.approx(np.dot(sizes, stats) / sum(sizes))  # pooled over both
    run = json.loads((base / "run.json").read_text())
    code, _, err = _run(capsys, "--config", config, "--data", second, "--out", tuned, "--no-progress",
                        "--init", base / "final")
    assert code == 0, err
    assert CordilleraVLA.from_pretrained(tuned / "final").stats == model.stats  # the checkpoint's, not second's
    assert json.loads((tuned / "run.json").read_text())["data"]["train"] != run["data"]["train"]
    assert "names a directory twice" in _error(capsys, "--config", config, "--data", dataset, dataset,
                                               "--out", tmp_path / "c")
    assert "--init: checkpoint directory not found" in _error(capsys, "--config", config, "--data", dataset,
                                                              "--out", tmp_path / "d", "--init", tmp_path / "none")
    assert not (tmp_path / "c").exists() and not (tmp_path / "d").exists()
