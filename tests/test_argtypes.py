"""Command-line value parsers: accepted values and the message for each kind of bad value."""

from __future__ import annotations

import argparse

import pytest

from cordillera.argtypes import at_least, image_size, positive, within


def test_at_least():
    assert at_least(1)("3") == 3 and at_least(0)("0") == 0
    with pytest.raises(argparse.ArgumentTypeError, match="must be >= 1, got 0"):
        at_least(1)("0")
    with pytest.raises(argparse.ArgumentTypeError, match="not an integer: '2.5'"):
        at_least(0)("2.5")


@pytest.mark.parametrize("text", ["0", "-1", "inf", "nan"])
def test_positive_rejects(text):
    with pytest.raises(argparse.ArgumentTypeError, match="finite number > 0"):
        positive(text)


def test_positive_and_within():
    assert positive("0.5") == 0.5
    with pytest.raises(argparse.ArgumentTypeError, match="not a number: 'fast'"):
        positive("fast")
    assert within(0.0, 1.0)("0") == 0.0 and within(0.0, 1.0)("1") == 1.0
    with pytest.raises(argparse.ArgumentTypeError, match=r"must be in \(0, 10\], got 0"):
        within(0.0, 10.0, low_open=True)("0")
    with pytest.raises(argparse.ArgumentTypeError, match=r"must be in \[0, 1\], got nan"):
        within(0.0, 1.0)("nan")


def test_image_size():
    assert image_size("128x256") == (128, 256) and image_size("64X128") == (64, 128)
    for text, message in (("128", "HEIGHTxWIDTH"), ("axb", "HEIGHTxWIDTH"), ("100x200", "multiples of 16"),
                          ("0x16", "multiples of 16"), ("2048x16", "multiples of 16")):
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            image_size(text)
