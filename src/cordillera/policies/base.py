"""The Policy contract and the registry that maps names to policy classes.

A policy declares the sensors it needs (so the world renders only those) and whether it is privileged
(then it receives a PrivilegedObservation with the full world state). `plan(obs)` returns a Plan.

    >>> from cordillera.policies import make_policy
    >>> policy = make_policy("lane_follower")
"""

from __future__ import annotations

import importlib
from typing import Callable, ClassVar

from cordillera.world.types import Observation, Plan

__all__ = ["Policy", "register_policy", "make_policy", "policy_names", "UnknownPolicyError"]


class UnknownPolicyError(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


class Policy:
    """Base class: subclasses set `name`, `sensors`, `privileged` and implement `plan`."""

    name: ClassVar[str] = ""
    sensors: ClassVar[tuple] = ()  # "bev", camera names and/or one render.rig.CameraRig (world.sim.observe)
    privileged: ClassVar[bool] = False

    def reset(self, info: dict | None = None) -> None:
        """Called at the start of every rollout with scenario info (name, seed, rig)."""

    def plan(self, obs: Observation) -> Plan:
        raise NotImplementedError


_REGISTRY: dict[str, Callable[..., Policy]] = {}
# policies whose modules are heavy to import (torch): registered when first asked for
_LAZY: dict[str, str] = {"vla": "cordillera.model.policy", "teacher": "cordillera.teacher.planner"}


def register_policy(cls):
    """Class decorator: make `cls` available to `make_policy(cls.name)`."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a non-empty name to be registered")
    _REGISTRY[cls.name] = cls
    return cls


def policy_names() -> list[str]:
    return sorted(set(_REGISTRY) | set(_LAZY))


def make_policy(name: str, **kwargs) -> Policy:
    """Instantiate a registered policy by name; UnknownPolicyError lists the known names."""
    if name not in _REGISTRY and name in _LAZY:
        importlib.import_module(_LAZY[name])
    if name not in _REGISTRY:
        raise UnknownPolicyError(f"unknown policy {name!r}; known policies: {', '.join(policy_names())}")
    return _REGISTRY[name](**kwargs)
