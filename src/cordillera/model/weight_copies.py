"""Derived copies of a module's weights for inference (casts to a lower precision, concatenated matrices),
rebuilt only when a parameter has changed.

    >>> copies = WeightCopies()
    >>> weights = copies.get(module, "float16", lambda: build(module))   # built once per parameter state

A parameter's state is its storage address and its version counter, which PyTorch increments on every in-place
write (optimizer steps, `load_state_dict`, `copy_`); assigning `.data` changes the address (the cache holds
the storages it was keyed on, so no new parameter can take an old address). Building the decode copies of the
default backbone costs ~7 ms, a tenth of a decision, so `generate` must not rebuild them every call; training
changes the parameters between calls and gets fresh copies. One slot per cache: asking for another tag
rebuilds.
"""

from __future__ import annotations

from typing import Callable, Hashable, TypeVar

import torch
from torch import nn

__all__ = ["WeightCopies", "parameter_state", "low_precision_dtype"]

T = TypeVar("T")


def parameter_state(module: nn.Module) -> tuple[tuple[int, int], ...]:
    """(storage address, version) of every parameter: changes whenever any parameter is written."""
    return tuple((p.data_ptr(), p._version) for p in module.parameters())


class WeightCopies:
    """One cached value per module, keyed on a tag (e.g. the dtype) and the module's parameter state."""

    def __init__(self) -> None:
        self._key: Hashable | None = None
        self._value = None
        self._held: list = []  # the keyed parameters' storages, kept alive so their addresses stay theirs

    def get(self, module: nn.Module, tag: Hashable, build: Callable[[], T]) -> T:
        key = (tag, parameter_state(module))
        if key != self._key:
            self._value, self._key = build(), key
            self._held = [p.detach() for p in module.parameters()]
        return self._value


def low_precision_dtype(name: str) -> torch.dtype:
    """The dtype of a config's product precision ("auto", "bfloat16" or "float32"). "auto": bfloat16 where the
    CPU has native bf16 dot products (AVX512-BF16 or AMX: there bf16 products with a hundred rows or more run
    1.5-2.5x faster than float32, casts included), else float32 (emulated bf16 products are slower)."""
    if name != "auto":
        return getattr(torch, name)
    probes = [getattr(torch.cpu, probe, None) for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return torch.bfloat16 if any(probe is not None and probe() for probe in probes) else torch.float32
