"""Evaluation: pure metrics over rollout logs (`cordillera.eval.metrics`); runners, aggregation and reports build
on them.

    >>> from cordillera.eval import compute_all
    >>> compute_all(final_state)["epdms"]
"""

from cordillera.eval.metrics import compute_all

__all__ = ["compute_all"]
