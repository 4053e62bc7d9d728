"""The reasoning VLA: vision encoder, reasoning backbone, flow-matching action expert.

    >>> from cordillera.model import CordilleraVLA, ModelConfig, Sample, VLAPolicy, train_tokenizer
    >>> model = CordilleraVLA(ModelConfig(), train_tokenizer(corpus, vocab_size=2048))
    >>> policy = VLAPolicy(model=model, num_samples=6, reasoning="auto", seed=0)

Modules: config (dataclasses), action_space (acceleration/curvature <-> poses), tokenizer (BPE + special
tokens), processor (Sample -> prompt -> Batch), encoders (vision, history, route), backbone (transformers
decoder + KV cache), expert (flow matching into the cache), vla (the model: loss, generate), checkpoint
(save/load), reasoning (decision parsing, sampling), policy (the Policy and `explain`).
"""

from cordillera.model.action_space import ActionStats, actions_to_trajectory, trajectory_to_actions
from cordillera.model.checkpoint import CheckpointError
from cordillera.model.config import (ActionConfig, BackboneConfig, ConfigError, ExpertConfig, ModelConfig,
                                     PromptConfig, RigConfig, VisionConfig)
from cordillera.model.policy import Explanation, VLAPolicy, explain, explain_scenario
from cordillera.model.processor import Batch, Processor, Sample, SampleError
from cordillera.model.reasoning import PlanReasoning, parse_decision
from cordillera.model.tokenizer import TextTokenizer, TokenizerError, train_tokenizer
from cordillera.model.vla import CordilleraVLA, Generation

__all__ = [
    "ActionConfig", "ActionStats", "BackboneConfig", "Batch", "CheckpointError", "ConfigError", "CordilleraVLA",
    "ExpertConfig", "Explanation", "Generation", "ModelConfig", "PlanReasoning", "Processor", "PromptConfig",
    "RigConfig", "Sample", "SampleError", "TextTokenizer", "TokenizerError", "VLAPolicy", "VisionConfig",
    "actions_to_trajectory", "explain", "explain_scenario", "parse_decision", "train_tokenizer", "trajectory_to_actions",
]
