"""What `cordillera scenarios` does, as library calls: list families and suites, show and export a sample.

    cordillera scenarios list --json                              # [{"name", "tags", "longtail"}, ...]
    cordillera scenarios list --suite test --json                 # {"suite", "hash", "items": [...]}
    cordillera scenarios show occluded_pedestrian --seed 3 --video out/ped.mp4
    cordillera scenarios export occluded_pedestrian --seed 3 > scenario.yaml

Outputs are written whole or not at all: a video or YAML file goes to a temporary name beside its
destination and is renamed into place only once complete.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

from cordillera.scenarios.families import FAMILIES, get_family
from cordillera.scenarios.schema import dump_scenario
from cordillera.scenarios.suites import HOLDOUT_FAMILIES

__all__ = ["family_listing", "export_yaml", "show_sample", "write_whole"]


def family_listing() -> list[dict]:
    """Every family as {"name", "tags", "longtail"}; tags carry the category, the expected decision(s),
    the critical agents, and whether the family is held out of training."""
    out = []
    for name, fam in FAMILIES.items():
        tags = {**fam.tags, "critical": list(fam.hazards), "holdout": name in HOLDOUT_FAMILIES}
        out.append({"name": name, "tags": tags, "longtail": fam.longtail})
    return out


def export_yaml(family: str, seed: int) -> str:
    """The YAML document of sample `seed` of `family` (loads back into an equal Scenario)."""
    return dump_scenario(get_family(family).sample(seed))


def write_whole(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call write(tmp) on a temporary path beside `path` (same suffix), then rename it to `path`.

    Nothing is left at `path` or beside it when `write` raises. The parent directory is created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; give it a normal file's mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def show_sample(family: str, seed: int, policy: str = "lane_follower", video: str | Path | None = None,
                cameras: bool = True) -> dict:
    """Drive sample `seed` of `family` with `policy`; returns the rollout summary with the scenario's tags
    and when each event fired, and writes a BEV (+ front cameras) video when `video` is given."""
    from cordillera.policies import make_policy
    from cordillera.scenarios.checks import run_policy
    from cordillera.world.rollout import summarize

    scenario = get_family(family).sample(seed)
    if video is not None:
        Path(video).parent.mkdir(parents=True, exist_ok=True)  # an unwritable place fails before the rollout
    final, fired_at = run_policy(scenario, make_policy(policy))
    summary = summarize(final)
    summary["tags"] = scenario.tags.model_dump(mode="json")
    summary["events_fired_at_s"] = fired_at
    if video is not None:
        from cordillera.world.render.video import render_rollout_video

        rig = None
        if cameras:
            from cordillera.world.render.rig import default_rig

            rig = default_rig()
        summary["video"] = str(write_whole(video, lambda tmp: render_rollout_video(final, tmp, cameras=rig)))
    return summary
