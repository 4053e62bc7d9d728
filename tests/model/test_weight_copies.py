"""Cached inference copies of weights: built once per parameter state, rebuilt after any write; the precision
names."""

from __future__ import annotations

import torch
from torch import nn

from cordillera.model.weight_copies import WeightCopies, low_precision_dtype


def test_copies_are_built_once_per_parameter_state():
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    copies, builds = WeightCopies(), []

    def build():
        builds.append(1)
        return [p.detach().to(torch.bfloat16) for p in module.parameters()]

    first = copies.get(module, "bf16", build)
    assert copies.get(module, "bf16", build) is first and len(builds) == 1
    assert copies.get(module, "other tag", build) is not first and len(builds) == 2
    copies.get(module, "bf16", build)
    assert len(builds) == 3  # one slot: switching tags rebuilds
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    module(torch.randn(5, 4)).sum().backward()
    optimizer.step()  # in-place writes bump the version counters
    after_step = copies.get(module, "bf16", build)
    assert len(builds) == 4
    torch.testing.assert_close(after_step[0].float(), module[0].weight.detach(), atol=1e-2, rtol=1e-2)
    module[1].bias.data = torch.zeros(2)  # a new storage
    assert copies.get(module, "bf16", build)[3].abs().max() == 0 and len(builds) == 5
    module.load_state_dict({k: v + 1 for k, v in module.state_dict().items()})
    copies.get(module, "bf16", build)
    assert len(builds) == 6


def test_precision_names():
    assert low_precision_dtype("float32") == torch.float32
    assert low_precision_dtype("bfloat16") == torch.bfloat16
    assert low_precision_dtype("auto") in (torch.float32, torch.bfloat16)
