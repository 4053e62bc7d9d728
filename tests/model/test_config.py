"""Model configuration: defaults, round trip, validation with field names."""

from __future__ import annotations

import json

import pytest

from cordillera.model.config import (BackboneConfig, ConfigError, ExpertConfig, ModelConfig, RigConfig,
                                     VisionConfig)


def test_round_trip_through_json():
    for config in (ModelConfig(), ModelConfig.tiny()):
        assert ModelConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_default_sizes():
    config = ModelConfig()
    assert config.rig.cameras == ("camera_cross_left_120fov", "camera_front_wide_120fov",
                                  "camera_cross_right_120fov", "camera_front_tele_30fov")
    assert len(config.rig.camera_vocabulary) == 7 and config.rig.num_frames == 4
    assert config.vision.tokens_per_image == 8 and config.vision.stride == 16
    assert config.expert.euler_steps == 10 and config.action.horizon == 64
    assert config.prompt.route_tokens == 5


@pytest.mark.parametrize("build, message", [
    (lambda: BackboneConfig(num_heads=6, num_kv_heads=4), "multiple of num_kv_heads"),
    (lambda: BackboneConfig(family="gpt2"), "family"),
    (lambda: BackboneConfig(hidden_size=0), "hidden_size must be a positive integer"),
    (lambda: ModelConfig(expert=ExpertConfig(num_heads=3)), "multiple of BackboneConfig.num_kv_heads"),
    (lambda: ModelConfig(rig=RigConfig(image_height=60)), "multiple of the vision stride"),
    (lambda: RigConfig(cameras=("camera_roof",)), "not in camera_vocabulary"),
    (lambda: RigConfig(cameras=()), "at least one camera"),
    (lambda: VisionConfig(token_grid=(2,)), "token_grid"),
    (lambda: BackboneConfig(prefill_dtype="float16"), "prefill_dtype must be one of"),
    (lambda: ExpertConfig(integrate_dtype="half"), "integrate_dtype must be one of"),
])
def test_validation(build, message):
    with pytest.raises(ConfigError, match=message):
        build()


def test_from_dict_rejects_unknown_keys():
    doc = ModelConfig().to_dict()
    doc["expert"]["width"] = 3
    with pytest.raises(ConfigError, match="expert: unknown key 'width'"):
        ModelConfig.from_dict(doc)
    with pytest.raises(ConfigError, match="unknown section 'optimizer'"):
        ModelConfig.from_dict({"optimizer": {}})
    with pytest.raises(ConfigError, match="must be a JSON object"):
        ModelConfig.from_dict([])
