"""Simulator throughput, side by side with highway-env in one run.

    python benchmarks/sim_throughput.py            # a table
    python benchmarks/sim_throughput.py --json     # {"ratio_vs_highway_env": ..., "agent_steps_per_s": {...}}

Row 1 mirrors highway-env's `highway-fast-v0` (3 lanes, 20 other vehicles, 30 s episodes, the ego's
policy acting once per second) and reports simulated seconds per wall second for both simulators and
their ratio. Rows 2-4 step worlds with 10, 50 and 200 IDM agents on a 4-lane highway without rendering
and report agent-steps per second. highway-env is an optional benchmark dependency:
`pip install -e '.[bench]'`. Run on one core: `taskset -c 0 python benchmarks/sim_throughput.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from cordillera.policies import make_policy
from cordillera.scenarios.schema import load_scenario
from cordillera.world import sim
from cordillera.world.rollout import rollout


def highway_scenario(vehicles: int, lanes: int, length_m: float, duration_s: float, seed: int = 0):
    return load_scenario({
        "name": f"highway_{vehicles}",
        "seed": seed,
        "map": {"builder": "highway", "params": {"lanes": lanes, "length_m": length_m}},
        "ego": {"lane": "main.1", "s": 100.0, "speed": 25.0},
        "traffic": {"vehicles": vehicles, "speed_range": [20.0, 30.0], "min_gap_m": 15.0,
                    "lanes": [f"main.{k}" for k in range(lanes)], "keep_clear_of_ego_m": 20.0},
        "success": {"kind": "survive", "time_s": duration_s},
    })


def ours_highway_fast(episodes: int) -> float:
    """Simulated seconds per wall second on highway-fast-v0's layout, episodes including resets.

    One untimed warm-up episode first (both simulators get one): it loads the compiled kernels.
    """
    policy = make_policy("constant_velocity")
    rollout(highway_scenario(20, 3, 1000.0, 30.0, seed=10_000), policy, seed=10_000, policy_hz=1.0)
    simulated, t0 = 0.0, time.perf_counter()
    for ep in range(episodes):
        scenario = highway_scenario(20, 3, 1000.0, 30.0, seed=ep)
        final = rollout(scenario, policy, seed=ep, policy_hz=1.0)
        simulated += final.t
    return simulated / (time.perf_counter() - t0)


def highway_env_fast(episodes: int) -> float | None:
    try:
        import gymnasium
        import highway_env  # noqa: F401
    except ImportError:
        return None
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    env = gymnasium.make("highway-fast-v0")
    cfg = env.unwrapped.config
    env.reset(seed=10_000)  # warm-up episode, untimed
    done = False
    while not done:
        _, _, terminated, truncated, _ = env.step(1)
        done = terminated or truncated
    simulated, t0 = 0.0, time.perf_counter()
    for ep in range(episodes):
        env.reset(seed=ep)
        done = False
        while not done:
            _, _, terminated, truncated, _ = env.step(1)  # IDLE
            simulated += 1.0 / cfg["policy_frequency"]
            done = terminated or truncated
    return simulated / (time.perf_counter() - t0)


def agent_steps_per_s(n_agents: int, steps: int) -> float:
    scenario = highway_scenario(n_agents, 4, 4000.0, 1000.0)
    state = sim.reset(scenario, 0)
    n = int(state.agents.active.sum())
    plan = make_policy("constant_velocity").plan(sim.observe(state))
    for _ in range(5):  # warm-up, untimed
        state = sim.step(state, plan)
    t0 = time.perf_counter()
    for _ in range(steps):
        state = sim.step(state)
    wall = time.perf_counter() - t0
    return n * steps / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    ours = ours_highway_fast(args.episodes)
    theirs = highway_env_fast(args.episodes)
    ratio = ours / theirs if theirs else None
    rates = {str(n): agent_steps_per_s(n, args.steps) for n in (10, 50, 200)}
    if args.json:
        print(json.dumps({"ratio_vs_highway_env": ratio, "sim_s_per_wall_s": {"cordillera": ours, "highway_env": theirs},
                          "agent_steps_per_s": rates}))
        return
    print(f"{'benchmark':<44}{'cordillera':>14}{'highway-env':>14}{'ratio':>9}")
    print(f"{'highway-fast-v0 layout, sim s / wall s':<44}{ours:>14.1f}"
          f"{(theirs if theirs else float('nan')):>14.1f}{(ratio if ratio else float('nan')):>9.1f}")
    for n, r in rates.items():
        print(f"{f'agent-steps / s, {n} agents':<44}{r:>14.0f}{'':>14}{'':>9}")
    if theirs is None:
        print("highway-env is not installed: pip install -e '.[bench]' for the side-by-side ratio")


if __name__ == "__main__":
    main()
