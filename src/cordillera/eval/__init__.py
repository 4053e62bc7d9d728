"""Evaluation: pure metrics over rollout logs (`cordillera.eval.metrics`), and the harness that runs a
policy over a suite, aggregates and reports (`cordillera eval`).

    >>> from cordillera.eval import compute_all, EvalConfig, run_eval
    >>> compute_all(final_state)["epdms"]
"""

from cordillera.eval.compare import compare_runs
from cordillera.eval.metrics import compute_all
from cordillera.eval.runner import EvalConfig, run_eval

__all__ = ["compute_all", "EvalConfig", "run_eval", "compare_runs"]
