"""Policies: the contract, the registry and the baselines."""

from cordillera.policies.base import Policy, UnknownPolicyError, make_policy, policy_names, register_policy
from cordillera.policies import baselines as _baselines  # noqa: F401  (registers the baselines)

__all__ = ["Policy", "UnknownPolicyError", "make_policy", "policy_names", "register_policy"]
