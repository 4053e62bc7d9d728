"""Argument types for the `cordillera` verbs: each parses one command-line value or raises
argparse.ArgumentTypeError with a message that names what was wrong.

    >>> p.add_argument("--workers", type=at_least(1))
    >>> p.add_argument("--duration", type=positive)
    >>> p.add_argument("--routine-rate", type=within(0.0, 1.0))
"""

from __future__ import annotations

import argparse
import math
from typing import Callable

__all__ = ["at_least", "positive", "within"]


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def at_least(low: int) -> Callable[[str], int]:
    """An integer >= low."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
        return value
    return parse


def positive(text: str) -> float:
    """A finite number > 0."""
    value = _number(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def within(low: float, high: float, low_open: bool = False) -> Callable[[str], float]:
    """A number in [low, high], or in (low, high] with low_open."""
    def parse(text: str) -> float:
        value = _number(text)
        if not (low <= value <= high) or (low_open and value == low):
            raise argparse.ArgumentTypeError(f"must be in {'(' if low_open else '['}{low:g}, {high:g}], got {text}")
        return value
    return parse
