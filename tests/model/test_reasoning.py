"""Decision parsing and token sampling."""

from __future__ import annotations

import pytest
import torch

from cordillera.model.reasoning import parse_decision, sample_token


@pytest.mark.parametrize("text, longitudinal, lateral", [
    ("Yield to the pedestrian on the crosswalk, then turn left", "Yield", "Turn left"),
    ("Stop at the red light", "Stop", None),
    ("Nudge right to increase clearance from the cones", None, "Nudge right"),
    ("Slow down because the lead vehicle is braking and keep lane", "Adapt Speed", "Keep Lane"),
    ("Change lanes to the left to pass the slow truck", "Pass/Overtake", "Lane Change left"),
    ("Keep distance to the lead car", "Keep Distance", None),
    ("", None, None),
])
def test_parse_decision(text, longitudinal, lateral):
    assert parse_decision(text) == {"longitudinal": longitudinal, "lateral": lateral}


def test_parsed_decision_feeds_the_consistency_metric():
    metric = pytest.importorskip("cordillera.eval.metrics.reasoning")  # the evaluation package, if present
    MetaAction, consistency = metric.MetaAction, metric.consistency
    decision = parse_decision("Yield to the cyclist, then turn right")
    assert consistency(decision, MetaAction("yield", "turn_right")) == 1.0
    assert consistency(decision, MetaAction("accelerate", "turn_right")) == 0.0


def test_sample_token_greedy_and_nucleus():
    logits = torch.tensor([[0.0, 5.0, 1.0], [3.0, 0.0, 0.0]])
    assert sample_token(logits, 0.0, 1.0, None).tolist() == [1, 0]
    g = torch.Generator().manual_seed(0)
    # top_p small: only the most likely token survives
    assert sample_token(logits, 1.0, 0.01, g).tolist() == [1, 0]
    draws = torch.stack([sample_token(torch.zeros(1, 4), 1.0, 1.0, g) for _ in range(200)])
    assert set(draws.flatten().tolist()) == {0, 1, 2, 3}
    a = [sample_token(torch.zeros(1, 50), 1.0, 0.9, torch.Generator().manual_seed(3)).item() for _ in range(2)]
    assert a[0] == a[1]
