"""Argument types for the `cordillera` verbs: each parses one command-line value or raises
argparse.ArgumentTypeError with a message that names what was wrong.

    >>> p.add_argument("--workers", type=at_least(1))
    >>> p.add_argument("--duration", type=positive)
    >>> p.add_argument("--routine-rate", type=within(0.0, 1.0))
    >>> p.add_argument("--image-size", type=image_size)          # "128x256" -> (128, 256)
"""

from __future__ import annotations

import argparse
import math
from typing import Callable

__all__ = ["at_least", "positive", "within", "image_size"]


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


def image_size(text: str) -> tuple[int, int]:
    """HEIGHTxWIDTH in pixels, each a multiple of 16 between 16 and 1024 (the model's vision stride)."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise argparse.ArgumentTypeError(f"must be HEIGHTxWIDTH in pixels such as 64x128, got {text!r}")
    height, width = int(parts[0]), int(parts[1])
    if not all(16 <= v <= 1024 and v % 16 == 0 for v in (height, width)):
        raise argparse.ArgumentTypeError(f"height and width must be multiples of 16 in [16, 1024], got {text}")
    return height, width
