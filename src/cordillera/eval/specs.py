"""What a user names on `cordillera eval`: a policy id and a suite.

    >>> from cordillera.eval.specs import parse_policy_id, parse_suite
    >>> parse_policy_id("rule-based").build()              # a fresh LaneFollower
    >>> parse_suite("test").hash                           # a named suite (scenarios.suites)
    >>> parse_suite("stalled_vehicle:0,child_ball:3")      # an explicit list, for quick runs and tests

Policy ids are the evaluation's public names, recorded in every result line: `constant-velocity`,
`rule-based`, `teacher`, and `vla:PATH` (a checkpoint directory). Any name in the policy registry is
accepted as well (`lane_follower` is recorded as `rule-based`, so runs compare under one name).
A spec is plain data, so it travels to worker processes and builds a fresh policy there.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from cordillera.scenarios.schema import ScenarioError
from cordillera.scenarios.suites import Suite, get_suite

__all__ = ["PolicySpec", "PolicyIdError", "SuiteError", "REFERENCE_POLICY", "POLICY_IDS", "parse_policy_id",
           "parse_suite", "CUSTOM_SUITE"]

# evaluation id -> policy registry name
POLICY_IDS = {"constant-velocity": "constant_velocity", "rule-based": "lane_follower"}
REFERENCE_POLICY = "rule-based"  # whose progress normalises EP, AlpaSim progress and CARLA route completion
CUSTOM_SUITE = "custom"  # the name an explicit FAMILY:SEED list is recorded under
_VLA = "vla"  # registry name of the VLA policy (built with checkpoint=PATH)


class PolicyIdError(ValueError):
    """A policy id that names nothing runnable; the message lists what exists."""


class SuiteError(ValueError):
    """A suite argument that is neither a known suite nor a FAMILY:SEED list."""


@dataclass(frozen=True)
class PolicySpec:
    """A policy to evaluate: its public id and how to build it (registry name + keyword arguments)."""

    id: str
    name: str  # policy registry name
    kwargs: tuple[tuple[str, object], ...] = ()
    precision: str | None = None  # a VLA's inference precision on this machine (CordilleraVLA.inference_precision)

    def build(self):
        """A fresh policy instance (one per rollout, so no state leaks between scenarios)."""
        from cordillera.policies import make_policy

        return make_policy(self.name, **dict(self.kwargs))


def _available() -> str:
    from cordillera.policies import policy_names

    extra = [n for n in policy_names() if n not in POLICY_IDS.values() and n != _VLA]
    return ", ".join([*POLICY_IDS, "vla:PATH", *extra])


def _vla_spec(text: str, path: str, reasoning: str | None, samples: int | None = None) -> PolicySpec:
    if not path:
        raise PolicyIdError(f"policy {text!r}: give a checkpoint directory, e.g. vla:checkpoints/small")
    if not Path(path).is_dir():
        raise PolicyIdError(f"policy {text!r}: checkpoint directory {path!r} does not exist")
    kwargs = (("checkpoint", str(path)),) + ((("reasoning", reasoning),) if reasoning is not None else ())
    kwargs += (("num_samples", samples),) if samples is not None else ()
    spec = PolicySpec(f"vla:{path}", _VLA, kwargs)
    try:
        policy = spec.build()  # fail here, not in every worker, when the checkpoint does not load
    except ImportError as exc:
        raise PolicyIdError(f"policy {text!r}: the VLA policy is not available in this installation ({exc}); "
                            f"available: {_available()}") from None
    except Exception as exc:  # noqa: BLE001  (any loader error is the user's checkpoint to fix)
        raise PolicyIdError(f"policy {text!r}: cannot load checkpoint {path!r}: {exc}") from None
    return replace(spec, precision=policy.model.inference_precision)


def parse_policy_id(text: str, reasoning: str | None = None, samples: int | None = None) -> PolicySpec:
    """The PolicySpec behind an id; PolicyIdError naming the available ids otherwise. `reasoning` (always,
    never or auto) sets a VLA's reasoning mode; None keeps its checkpoint's, and other policies take none.
    `samples` sets a VLA's trajectory samples per decision (None: the policy's 6; it drives the noise-free one,
    so 1 drives the same plan for a sixth of the expert's cost)."""
    from cordillera.constants import REASONING_MODES
    from cordillera.policies import policy_names

    text = text.strip()
    vla = text.startswith(f"{_VLA}:") or text == _VLA
    if reasoning is not None:
        if reasoning not in REASONING_MODES:
            raise PolicyIdError(f"reasoning must be one of {', '.join(REASONING_MODES)}, got {reasoning!r}")
        if not vla:
            raise PolicyIdError(f"policy {text!r} writes no reasoning; a reasoning mode applies to vla:PATH only")
    if samples is not None:
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
            raise PolicyIdError(f"samples must be a positive integer, got {samples!r}")
        if not vla:
            raise PolicyIdError(f"policy {text!r} draws no trajectory samples; --samples applies to vla:PATH only")
    if text in POLICY_IDS:
        return PolicySpec(text, POLICY_IDS[text])
    if vla:
        return _vla_spec(text, text[len(_VLA) + 1:], reasoning, samples)
    if text in policy_names():
        ids = {name: pid for pid, name in POLICY_IDS.items()}
        return PolicySpec(ids.get(text, text), text)
    raise PolicyIdError(f"unknown policy {text!r}; available: {_available()}")


def parse_suite(text: str) -> Suite:
    """A named suite (train, val, test, longtail-holdout) or an explicit list "FAMILY:SEED,FAMILY:SEED"."""
    from cordillera.scenarios.families import get_family

    text = text.strip()
    if ":" not in text:
        try:
            return get_suite(text)
        except ScenarioError as exc:
            raise SuiteError(f"{exc} (or a list FAMILY:SEED,FAMILY:SEED)") from None
    items = []
    for part in text.split(","):
        family, _, seed = part.strip().rpartition(":")
        try:
            get_family(family)
        except ScenarioError as exc:
            raise SuiteError(f"suite item {part.strip()!r}: {exc}") from None
        if not seed.isdigit():
            raise SuiteError(f"suite item {part.strip()!r}: the seed must be an integer >= 0")
        items.append((family, int(seed)))
    if len(set(items)) != len(items):
        raise SuiteError(f"suite list {text!r} names an item twice")
    return Suite(CUSTOM_SUITE, tuple(items))
