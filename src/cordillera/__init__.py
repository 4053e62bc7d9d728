"""Cordillera: an open, CPU-first platform for reasoning vision-language-action autonomous driving."""

__version__ = "0.1.0"
