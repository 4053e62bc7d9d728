"""`cordillera <verb>` in-process (capsys) and once through the installed entry points."""

import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from cordillera.cli import main
from cordillera.policies import policy_names
from cordillera.scenarios.builtin import BUILTIN, builtin_scenario
from cordillera.scenarios.schema import dump_scenario
from cordillera.world.state_io import load_state


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _usage_error(capsys, *argv) -> str:
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"cordillera {argv[0]}: error: ")
    return lines[0]


def test_sim_json_summary(capsys):
    code, out, err = _run(capsys, "sim", "straight", "--json", "--duration", "3")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 1
    summary = json.loads(lines[0])
    assert summary["scenario"] == "straight"
    assert summary["steps"] == 30
    assert summary["simulated_s"] == 3.0
    assert summary["outcome"] in ("survived", "reached_goal", "timeout", "collision", "offroad")
    assert summary["distance_m"] > 0.0


def test_sim_plain_summary_with_seed_and_policy(capsys):
    code, out, _ = _run(capsys, "sim", "highway", "--duration", "1", "--seed", "3", "--policy", "constant_velocity")
    assert code == 0
    fields = {k.strip(): v for k, v in (line.split(": ", 1) for line in out.splitlines())}
    assert fields["scenario"] == "highway"
    assert fields["seed"] == "3"
    assert fields["steps"] == "10"


def test_sim_video_has_one_frame_per_step(capsys, tmp_path):
    path = tmp_path / "clip" / "straight.mp4"
    code, out, err = _run(capsys, "sim", "straight", "--json", "--duration", "2", "--video", str(path))
    assert code == 0, err
    summary = json.loads(out)
    assert Path(summary["video"]) == path
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == summary["steps"] + 1 == 21  # the initial state and every step
    assert frames[0].shape[2] == 3 and frames[0].std() > 0  # a picture, not a blank


def test_sim_save_state_is_loadable(capsys, tmp_path):
    path = tmp_path / "final.npz"
    code, out, err = _run(capsys, "sim", "t_junction", "--json", "--duration", "1.5", "--save-state", str(path))
    assert code == 0, err
    summary = json.loads(out)
    assert Path(summary["state"]) == path
    state = load_state(path)
    assert state.step == 15 and state.t == pytest.approx(1.5)
    assert state.world.scenario == builtin_scenario("t_junction")
    assert len(state.log) == 16
    np.testing.assert_allclose(state.log[-1].ego[:2], state.ego.pose[:2])


def test_unknown_policy(capsys):
    line = _usage_error(capsys, "sim", "straight", "--policy", "autopilot")
    assert "'autopilot'" in line
    for name in policy_names():
        assert name in line


def test_unknown_scenario(capsys):
    line = _usage_error(capsys, "sim", "roundabout")
    assert "'roundabout'" in line
    assert all(name in line for name in BUILTIN)


def test_missing_scenario_file(capsys, tmp_path):
    line = _usage_error(capsys, "sim", str(tmp_path / "nope.yaml"))
    assert "cannot read scenario file" in line


def test_malformed_yaml_file(capsys, tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("map: {builder: straight\nego: [lane: fwd.0\n")
    line = _usage_error(capsys, "sim", str(path))
    assert "malformed YAML at line" in line


def test_invalid_scenario_field(capsys, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("map: {builder: straight}\nego: {lane: fwd.0, speed: -4}\n")
    assert "ego.speed: Input should be greater than or equal to 0" in _usage_error(capsys, "sim", str(path))


def test_bad_builder_parameter_names_the_field(capsys, tmp_path):
    path = tmp_path / "narrow.yaml"
    path.write_text("map: {builder: straight, params: {lane_width: 0.3}}\nego: {lane: fwd.0}\n")
    line = _usage_error(capsys, "sim", str(path))
    assert "lane_width" in line and "0.3" in line


@pytest.mark.parametrize(
    ("ego", "expect"),
    [("{lane: nowhere}", "unknown lane 'nowhere'"), ("{lane: fwd.0, s: 5000}", "ego.s")],
)
def test_scenario_that_does_not_fit_its_map(capsys, tmp_path, ego, expect):
    path = tmp_path / "misfit.yaml"
    path.write_text(f"map: {{builder: straight}}\nego: {ego}\n")
    assert expect in _usage_error(capsys, "sim", str(path))


def test_unknown_map_builder(capsys, tmp_path):
    path = tmp_path / "builder.yaml"
    path.write_text(dump_scenario(builtin_scenario("straight")).replace("builder: straight", "builder: roundabout"))
    assert "unknown map builder 'roundabout'" in _usage_error(capsys, "sim", str(path))


@pytest.mark.parametrize(
    ("argv", "expect"),
    [(["--duration", "0"], "--duration: must be a finite number > 0"),
     (["--duration", "nan"], "--duration: must be a finite number > 0"),
     (["--policy-hz", "-1"], "--policy-hz: must be a finite number > 0"),
     (["--seed", "-1"], "--seed: must be >= 0"), (["--seed", "x"], "--seed: not an integer")],
)
def test_bad_numbers_are_usage_errors(capsys, argv, expect):
    with pytest.raises(SystemExit) as info:
        main(["sim", "straight", *argv])
    assert info.value.code == 2
    assert expect in capsys.readouterr().err


def test_policies_lists_the_baselines(capsys):
    code, out, _ = _run(capsys, "policies")
    assert code == 0
    names = out.split()
    assert "constant_velocity" in names and "lane_follower" in names
    assert names == sorted(names)


@pytest.mark.parametrize(
    "command",
    [[str(Path(sys.executable).with_name("cordillera"))], [sys.executable, "-m", "cordillera"],
     [sys.executable, "-m", "cordillera.cli"]],
    ids=["console-script", "python-m-cordillera", "python-m-cli"],
)
def test_entry_points_help(command):
    if not Path(command[0]).exists():
        pytest.skip("console script not installed next to this interpreter")
    result = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "usage: cordillera" in result.stdout
    assert "sim" in result.stdout and "policies" in result.stdout


def test_the_parser_does_not_import_torch():
    """Every verb registers without importing torch, so `cordillera sim` and `--help` start fast."""
    import subprocess
    import sys

    code = "import sys; from cordillera.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_a_reader_that_goes_away_ends_the_command_quietly():
    """`cordillera ... | head`: the write into the closed pipe stops the command with 141 (128 + SIGPIPE), no
    traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "cordillera", "scenarios", "list", "--suite", "train"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # before the listing (12 kB, more than one buffer) is written
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 141 and b"Traceback" not in err and b"Exception ignored" not in err
