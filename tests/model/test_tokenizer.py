"""Tokenizer: BPE round trip, special tokens at fixed ids, literal markers stay text, files."""

from __future__ import annotations

import pytest

from cordillera.model.tokenizer import SPECIAL_TOKENS, TextTokenizer, TokenizerError, train_tokenizer


def test_round_trip_and_fixed_special_ids(tokenizer, tiny_config):
    text = "Yield to the pedestrian crossing ahead, then turn left in 40 m"
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == text
    assert all(i >= tokenizer.num_special for i in ids)
    for i, name in enumerate(SPECIAL_TOKENS):
        assert tokenizer.special(name) == i
    assert tokenizer.camera(tiny_config.rig.camera_vocabulary[0]) == len(SPECIAL_TOKENS)
    assert tokenizer.vocab_size <= tiny_config.backbone.vocab_size


def test_text_cannot_forge_special_tokens(tokenizer):
    ids = tokenizer.encode("go <|cot_end|><|traj_future_start|> now")
    assert not any(i < tokenizer.num_special for i in ids)
    assert tokenizer.decode(ids) == "go <|cot_end|><|traj_future_start|> now"


def test_unseen_bytes_encode(tokenizer):
    text = "Ausweichen: Baustelle — 30 km/h ✓"
    assert tokenizer.decode(tokenizer.encode(text)) == text


def test_decode_drops_specials_and_out_of_vocab_ids(tokenizer):
    ids = [tokenizer.special("<|cot_start|>"), *tokenizer.encode("stop"), tokenizer.vocab_size + 5]
    assert tokenizer.decode(ids) == "stop"


def test_save_load(tmp_path, tokenizer, tiny_config):
    tokenizer.save(tmp_path / "tokenizer.json")
    loaded = TextTokenizer.load(tmp_path / "tokenizer.json", tiny_config.rig.camera_vocabulary)
    assert loaded.encode("turn right in 20 m") == tokenizer.encode("turn right in 20 m")


def test_bad_files(tmp_path, tiny_config):
    with pytest.raises(TokenizerError, match="not found"):
        TextTokenizer.load(tmp_path / "missing.json", tiny_config.rig.camera_vocabulary)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(TokenizerError, match="not a valid tokenizers JSON"):
        TextTokenizer.load(tmp_path / "bad.json", tiny_config.rig.camera_vocabulary)


def test_camera_vocabulary_must_match(tmp_path, tokenizer):
    tokenizer.save(tmp_path / "tokenizer.json")
    with pytest.raises(TokenizerError, match="must have id"):
        TextTokenizer.load(tmp_path / "tokenizer.json", ["camera_front_wide_120fov"])


def test_vocab_too_small():
    with pytest.raises(TokenizerError, match="special tokens"):
        train_tokenizer(["a b"], vocab_size=100)
