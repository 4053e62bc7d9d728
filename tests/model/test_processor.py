"""Prompt layout and batches: placeholder counts, camera subsets, targets, padding, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cordillera.model.processor import IGNORE, Processor, Sample, SampleError
from cordillera.model.action_space import ActionStats


@pytest.fixture
def processor(tiny_config, tokenizer):
    return Processor(tiny_config, tokenizer, ActionStats())


def count(batch, processor, name):
    return int((batch.input_ids == processor.ids[name]).sum())


@pytest.mark.parametrize("cameras", [1, 4, 7])
def test_placeholders_match_encoders(processor, make_sample, all_cameras, cameras, tiny_config):
    names = all_cameras[:cameras]
    batch = processor.collate([make_sample(cameras=names)])
    per_image = tiny_config.vision.tokens_per_image
    frames = tiny_config.rig.num_frames
    assert count(batch, processor, "image_pad") == cameras * frames * per_image
    assert batch.images.shape == (cameras * frames, 3, tiny_config.rig.image_height, tiny_config.rig.image_width)
    assert batch.images.dtype == torch.uint8
    assert count(batch, processor, "traj_history") == 16 and batch.history.shape == (1, 16, 4)
    assert count(batch, processor, "route_pad") == 5 and batch.route.shape == (1, 5, 8)
    assert count(batch, processor, "ego_state") == 1 and batch.ego_state.shape == (1, 2)
    for name in names:  # every camera is named in the prompt
        assert int((batch.input_ids == processor.tokenizer.camera(name)).sum()) == 1
    assert batch.image_age.tolist()[:frames] == list(range(frames - 1, -1, -1))


def test_cameras_sorted_by_vocabulary(processor, make_sample, all_cameras):
    batch = processor.collate([make_sample(cameras=[all_cameras[6], all_cameras[0]])])
    assert batch.image_camera.unique_consecutive().tolist() == [0, 6]


def test_resize_and_frame_cut(processor, make_sample, tiny_config):
    sample = make_sample(frames=5, size=(128, 256))
    batch = processor.collate([sample])
    rig = tiny_config.rig
    assert batch.images.shape[1:] == (3, rig.image_height, rig.image_width)
    assert batch.images.shape[0] == len(rig.cameras) * rig.num_frames  # last num_frames kept


def test_no_cameras_is_allowed(processor, make_sample):
    batch = processor.collate([make_sample(cameras=[])])
    assert batch.images.shape[0] == 0 and count(batch, processor, "image_pad") == 0


def test_inference_batch_is_left_padded(processor, make_sample, all_cameras):
    batch = processor.collate([make_sample(cameras=all_cameras[:1]), make_sample(cameras=all_cameras[:3])])
    assert batch.attention_mask[:, -1].all()
    assert not batch.attention_mask[0, 0] and batch.attention_mask[1].all()
    first = int(batch.attention_mask[0].long().argmax())
    assert batch.position_ids[0, first] == 0 and batch.position_ids[1, 0] == 0
    assert batch.labels is None and batch.actions is None


def test_targets_with_reasoning(processor, make_sample, tokenizer):
    text = "Yield to the pedestrian crossing ahead"
    batch = processor.collate([make_sample(reasoning=text), make_sample(seed=1)], targets=True)
    ids, labels = batch.input_ids, batch.labels
    assert batch.attention_mask[:, 0].all()  # right padded
    gate = (ids == processor.ids["prompt_end"]).nonzero()[:, 1] + 1
    assert labels[0, gate[0]] == processor.ids["cot_start"]
    assert labels[1, gate[1]] == processor.ids["traj_future_start"]
    length0 = int(batch.prefix_length[0])
    assert ids[0, length0 - 1] == processor.ids["traj_future_start"]
    text_ids = tokenizer.encode(text)
    assert ids[0, gate[0] + 1: gate[0] + 1 + len(text_ids)].tolist() == text_ids
    assert (labels[0, : gate[0]] == IGNORE).all()
    assert batch.actions.shape == (2, 64, 2)
    assert batch.prefix_length[1] == gate[1] + 1


def test_scene_qa_follows_everything_the_expert_reads(processor, make_sample, tokenizer):
    """QA pairs go after <|traj_future_start|> (outside prefix_length, so the expert never reads them); only
    the answers and <|answer_end|> are labelled; a sample without QA encodes exactly as before."""
    from dataclasses import replace

    plain = make_sample(reasoning="Yield to the pedestrian crossing ahead")
    question, answer = "Is anyone about to cross?", "Yield to the pedestrian crossing ahead"
    asked = replace(plain, qa=((question, answer),))
    batch = processor.collate([asked, plain], targets=True)
    ids, labels = batch.input_ids, batch.labels
    assert int(batch.prefix_length[0]) == int(batch.prefix_length[1])  # QA adds nothing the expert reads
    start = int(batch.prefix_length[0])
    assert ids[0, start] == processor.ids["question_start"]
    answer_ids = tokenizer.encode(answer)
    opened = start + 1 + len(tokenizer.encode(question)) + 1  # <|answer_start|>
    assert ids[0, opened] == processor.ids["answer_start"] and (labels[0, start: opened + 1] == IGNORE).all()
    assert labels[0, opened + 1: opened + 1 + len(answer_ids)].tolist() == answer_ids
    assert labels[0, opened + 1 + len(answer_ids)] == processor.ids["answer_end"]
    assert not batch.attention_mask[1, start:].any()  # the plain sample ends where its trajectory starts
    with pytest.raises(SampleError, match="qa"):
        replace(plain, qa=(("only a question",),))


def test_keyframe_label_overrides_gate(processor, make_sample):
    batch = processor.collate([make_sample(reasoning="Stop for the red light", keyframe=False)], targets=True)
    gate = int((batch.input_ids[0] == processor.ids["prompt_end"]).nonzero()[0, 0]) + 1
    assert batch.input_ids[0, gate] == processor.ids["cot_start"]  # the text is still there ("always" mode)
    assert batch.labels[0, gate] == processor.ids["traj_future_start"]  # but the gate says routine


def test_target_actions_are_normalised_fit(processor, make_sample):
    batch = processor.collate([make_sample(speed=10.0)], targets=True)
    raw = processor.stats.denormalize(batch.actions.double())
    assert raw[..., 0].abs().max() < 1e-3 and raw[..., 1].abs().max() < 1e-4  # straight at constant speed


def test_errors(processor, make_sample):
    with pytest.raises(SampleError, match="not in the model's camera vocabulary"):
        processor.collate([make_sample(cameras=["camera_roof_360"])])
    with pytest.raises(SampleError, match="no future"):
        processor.collate([Sample({}, np.zeros((16, 3)), 1.0, np.zeros((20, 2)))], targets=True)
    with pytest.raises(SampleError, match="uint8"):
        Sample({"camera_front_wide_120fov": np.zeros((2, 8, 8, 3))}, np.zeros((16, 3)), 1.0, np.zeros((20, 2)))
    with pytest.raises(SampleError, match="ego_history"):
        Sample({}, np.zeros((16, 2)), 1.0, np.zeros((20, 2)))
    with pytest.raises(SampleError, match="route_waypoints"):
        Sample({}, np.zeros((16, 3)), 1.0, np.zeros((0, 2)))
    with pytest.raises(SampleError, match="at least one sample"):
        processor.collate([])


def test_depth_targets_follow_the_image_order(tiny_config, tokenizer, make_sample):
    from dataclasses import replace

    from cordillera.model.config import PerceptionConfig
    from cordillera.world.render.appearance import depth_code

    config = replace(tiny_config, perception=PerceptionConfig(dense=True))
    processor = Processor(config, tokenizer, ActionStats())
    grid = processor.dense_grid()
    rig = config.rig
    sample = make_sample(frames=2)
    name = sorted(sample.cameras, key=processor.camera_index.__getitem__)[1]  # the second camera in the prompt
    codes = np.zeros((rig.image_height, rig.image_width), dtype=np.uint8)
    codes[: rig.image_height // grid[0], : rig.image_width // grid[1]] = depth_code(15.0)  # top-left cell
    with_depth = replace(sample, depth={name: codes})
    batch = processor.collate([sample, with_depth], targets=True)
    frames = min(2, rig.num_frames)
    assert batch.depth.shape == (len(batch.images), *grid) and len(batch.images) == 2 * len(sample.cameras) * frames
    known = (batch.depth >= 0).flatten(1).all(1)
    # only the second sample's second camera, newest frame (age 0) has a target
    target = len(sample.cameras) * frames + 2 * frames - 1
    assert known.nonzero().flatten().tolist() == [target] and int(batch.image_age[target]) == 0
    assert int(batch.depth[target, 0, 0]) == 2 and int(batch.depth[target].sum()) == 2  # 10-20 m, one cell
    assert processor.collate([sample], targets=True).depth is None  # no sample with codes: no tensor
    assert Processor(tiny_config, tokenizer, ActionStats()).collate([with_depth], targets=True).depth is None
    with pytest.raises(SampleError, match="depth"):
        replace(sample, depth={name: codes.astype(np.float32)})
