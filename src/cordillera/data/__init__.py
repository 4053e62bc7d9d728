"""Datasets: the versioned on-disk format, its writer and reader, and the torch Dataset.

    >>> from cordillera.data import DrivingDataset
    >>> ds = DrivingDataset("runs/data/train", split="train")

Public API: DrivingDataset, DatasetReader (reader; imports torch, so loaded on first use), DatasetError,
FORMAT_VERSION, split_of (format). `cordillera datagen` writes datasets (teacher.datagen); `cordillera data
stats|show` inspects them (data.commands).
"""

from cordillera.data.format import FORMAT_VERSION, DatasetError, split_of

__all__ = ["DrivingDataset", "DatasetReader", "DatasetError", "FORMAT_VERSION", "split_of"]


def __getattr__(name: str):
    if name in ("DrivingDataset", "DatasetReader"):
        from cordillera.data import reader

        return getattr(reader, name)
    raise AttributeError(f"module 'cordillera.data' has no attribute {name!r}")
