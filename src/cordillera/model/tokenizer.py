"""The text tokenizer: byte-level BPE (`tokenizers`) trained on the reasoning corpus, plus special tokens.

    >>> from cordillera.model.tokenizer import train_tokenizer
    >>> tok = train_tokenizer(["Yield to the pedestrian on the crosswalk.", "turn left in 40 m"], vocab_size=400)
    >>> tok.decode(tok.encode("turn left in 40 m"))
    'turn left in 40 m'
    >>> tok.special("<|cot_start|>")
    17

Special tokens get the first ids in a fixed order (`SPECIAL_TOKENS`, then one token per camera of the
camera vocabulary), so any tokenizer trained for a given camera vocabulary puts them at the same ids.
Byte-level BPE encodes any text without unknown tokens. Text passed to `encode` never produces special
tokens, even if it contains "<|cot_start|>" literally (navigation text cannot forge prompt structure).
Saved as `tokenizer.json` (the `tokenizers` JSON format: no pickle).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

__all__ = ["SPECIAL_TOKENS", "camera_token", "special_tokens_for", "train_tokenizer", "TextTokenizer",
           "TokenizerError"]

SPECIAL_TOKENS = (
    "<|pad|>",
    "<|prompt_start|>",
    "<|prompt_end|>",
    "<|image_start|>",
    "<|image_pad|>",  # one per vision token, replaced by the vision encoder's output
    "<|image_end|>",
    "<|traj_history_start|>",
    "<|traj_history|>",  # one per past pose, replaced by the history encoder's output
    "<|ego_state|>",  # speed and acceleration at t0
    "<|traj_history_end|>",
    "<|route_start|>",
    "<|route_pad|>",  # one per group of route waypoints
    "<|route_end|>",
    "<|question_start|>",  # question / answer markers (scene QA, the Alpamayo 1.5 VQA format)
    "<|question_end|>",
    "<|answer_start|>",
    "<|answer_end|>",
    "<|cot_start|>",  # Chain-of-Causation reasoning
    "<|cot_end|>",
    "<|traj_future_start|>",  # the expert reads the cache up to and including this token
    "<|traj_future_end|>",  # closes the discrete trajectory tokens when those are on
)


class TokenizerError(ValueError):
    """A tokenizer file is missing, malformed or does not fit the model."""


def camera_token(name: str) -> str:
    return f"<|{name}|>"


def special_tokens_for(camera_vocabulary: Iterable[str]) -> list[str]:
    return [*SPECIAL_TOKENS, *(camera_token(c) for c in camera_vocabulary)]


class TextTokenizer:
    """A `tokenizers.Tokenizer` with the project's special tokens at fixed ids."""

    def __init__(self, tokenizer: Tokenizer, camera_vocabulary: Iterable[str]):
        self.tokenizer = tokenizer
        self.tokenizer.encode_special_tokens = True  # literal "<|...|>" in text stays text
        self.special_names = special_tokens_for(camera_vocabulary)
        for expected_id, name in enumerate(self.special_names):
            found = tokenizer.token_to_id(name)
            if found != expected_id:
                raise TokenizerError(f"tokenizer: special token {name} must have id {expected_id}, got {found}")
        self._special = {name: i for i, name in enumerate(self.special_names)}

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    @property
    def num_special(self) -> int:
        return len(self.special_names)

    def special(self, name: str) -> int:
        try:
            return self._special[name]
        except KeyError:
            raise TokenizerError(f"unknown special token {name!r}") from None

    def camera(self, name: str) -> int:
        return self.special(camera_token(name))

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def decode(self, ids: Iterable[int]) -> str:
        """Text of the ids; special tokens and ids outside the text vocabulary are dropped."""
        keep = [int(i) for i in ids if self.num_special <= int(i) < self.vocab_size]
        return self.tokenizer.decode(keep)

    def save(self, path: str | Path) -> None:
        self.tokenizer.save(str(path))

    @classmethod
    def load(cls, path: str | Path, camera_vocabulary: Iterable[str]) -> "TextTokenizer":
        path = Path(path)
        if not path.is_file():
            raise TokenizerError(f"tokenizer file not found: {path}")
        try:
            json.loads(path.read_text())
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as exc:  # tokenizers raises its own Exception type on malformed JSON
            raise TokenizerError(f"{path}: not a valid tokenizers JSON file ({exc})") from None
        return cls(tokenizer, camera_vocabulary)


def train_tokenizer(corpus: Iterable[str], vocab_size: int, camera_vocabulary: Iterable[str] | None = None,
                    min_frequency: int = 2) -> TextTokenizer:
    """Train byte-level BPE on `corpus` (reasoning traces, navigation texts) up to `vocab_size` tokens,
    special tokens included. A small corpus yields fewer tokens than asked; the model's embedding keeps
    `vocab_size` rows either way."""
    from cordillera.model.config import ALL_CAMERAS

    cameras = tuple(ALL_CAMERAS if camera_vocabulary is None else camera_vocabulary)
    specials = special_tokens_for(cameras)
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    if vocab_size < len(specials) + len(alphabet):
        raise TokenizerError(f"vocab_size {vocab_size} is below the {len(specials)} special tokens + "
                             f"{len(alphabet)} bytes a byte-level BPE needs")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=specials,
                                  initial_alphabet=alphabet, show_progress=False)
    tokenizer.train_from_iterator(list(corpus), trainer=trainer)
    return TextTokenizer(tokenizer, cameras)
