"""`cordillera explain` end to end on a tiny saved checkpoint, and its bad-input errors."""

from __future__ import annotations

import json

import pytest

from cordillera.cli import main


@pytest.fixture
def checkpoint(make_model, tmp_path):
    return make_model().save_pretrained(tmp_path / "ckpt")


def test_explain_prints_reasoning_and_writes_picture(checkpoint, tmp_path, capsys):
    out = tmp_path / "explain.png"
    code = main(["explain", "--checkpoint", str(checkpoint), "--scenario", "straight", "--t", "0.5",
                 "--driver", "lane_follower", "--samples", "2", "--out", str(out), "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["t"] == 0.5 and report["scenario"] == "straight"
    assert len(report["plan"]) == 64 and all(len(p) == 3 for p in report["plan"])
    assert report["reasoned"] is True and set(report["decision"]) == {"longitudinal", "lateral"}
    assert out.stat().st_size > 1000 and report["image"] == str(out)
    assert report["perception"] is None  # no perception head in this model


def test_explain_answers_questions_about_the_same_moment(checkpoint, tmp_path, capsys):
    argv = ["explain", "--checkpoint", str(checkpoint), "--scenario", "straight", "--t", "0.3", "--driver",
            "lane_follower", "--samples", "1", "--out", str(tmp_path / "q.png"), "--ask", "Is the light red?",
            "--ask", "What is ahead?"]
    assert main(argv + ["--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [a["question"] for a in report["answers"]] == ["Is the light red?", "What is ahead?"]
    assert all(isinstance(a["answer"], str) for a in report["answers"])
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "Q: Is the light red?" in text and "Q: What is ahead?" in text
    assert main(argv[:-4] + ["--ask", " "]) == 2
    assert "--ask" in capsys.readouterr().err


def test_explain_shows_what_a_perception_head_sees(make_model, tiny_config, tmp_path, capsys):
    from dataclasses import replace

    from cordillera.model.config import PerceptionConfig

    config = replace(tiny_config, perception=PerceptionConfig(enabled=True, queries=2, hidden_size=16, to_expert=True))
    checkpoint = make_model(config).save_pretrained(tmp_path / "head")
    argv = ["explain", "--checkpoint", str(checkpoint), "--scenario", "straight", "--t", "0.3", "--driver",
            "lane_follower", "--samples", "1", "--out", str(tmp_path / "p.png")]
    assert main(argv + ["--json"]) == 0
    seen = json.loads(capsys.readouterr().out)["perception"]
    assert 0.0 <= seen["vehicle_ahead"] <= 1.0 and seen["signal"] in ("none", "red", "yellow", "green", "dark")
    assert main(argv) == 0
    assert "perceived: vehicle ahead" in capsys.readouterr().out


def test_explain_text_output_is_reproducible(checkpoint, tmp_path, capsys):
    args = ["explain", "--checkpoint", str(checkpoint), "--scenario", "straight", "--t", "0.3", "--driver",
            "lane_follower", "--samples", "1", "--out", str(tmp_path / "a.png")]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert main(args) == 0
    second = capsys.readouterr().out
    strip = lambda text: [line for line in text.splitlines() if not line.startswith("timings")]  # noqa: E731
    assert strip(first) == strip(second) and "reasoning" in first and "decision" in first


@pytest.mark.parametrize("extra, message", [
    (["--checkpoint", "no/such/dir"], "does not exist"),
    (["--scenario", "no_such_family:1"], "no_such_family"),
    (["--t", "999"], "past the end"),
    (["--driver", "nobody"], "unknown policy"),
    (["--out", "picture"], "must end in one of .png"),
])
def test_explain_bad_input_is_one_clear_line(checkpoint, tmp_path, capsys, extra, message):
    args = {"--checkpoint": str(checkpoint), "--scenario": "straight", "--t": "0.2", "--driver": "lane_follower",
            "--out": str(tmp_path / "x.png")}
    for key, value in zip(extra[::2], extra[1::2]):
        args[key] = value
    argv = ["explain", *[item for pair in args.items() for item in pair]]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("cordillera explain: error:") and message in err and "\n" not in err


def test_explain_rejects_a_corrupt_checkpoint(checkpoint, tmp_path, capsys):
    (checkpoint / "model.safetensors").write_bytes(b"not a safetensors file")
    assert main(["explain", "--checkpoint", str(checkpoint), "--scenario", "straight", "--t", "0.2"]) == 2
    assert "checkpoint" in capsys.readouterr().err
