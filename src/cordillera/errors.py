"""Errors shared across the command-line verbs."""

from __future__ import annotations

__all__ = ["UsageError"]


class UsageError(Exception):
    """Input the user can fix; `cordillera` reports it on one line with exit code 2."""
