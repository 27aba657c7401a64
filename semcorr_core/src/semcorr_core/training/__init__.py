"""Model-agnostic training infrastructure (issue #3), one concern per module.

* :mod:`.config` - layered YAML run configs (``_base_`` chains, deep merge) with dotted
  command-line overrides that always win (``+key=value`` adds a key), a stable config hash.
* :mod:`.checkpoint` - atomic, ``weights_only``-loadable checkpoints (model, optimiser, scheduler,
  epoch/step, RNG states, config + hash, version); latest-checkpoint lookup.
* :mod:`.distributed` - :class:`DistributedContext`: torchrun environment -> process group
  (``nccl`` on CUDA, ``gloo`` on CPU), DDP wrapping, distributed sampler, collectives; a no-op
  single-process fallback.
* :mod:`.loop` - :class:`Trainer` / :func:`fit`: seeded, resumable AdamW + cosine training loop
  with ``metrics.jsonl`` (and TensorBoard when installed) logging and periodic checkpoints.

Nothing here knows about a particular model, loss or dataset.
"""

from semcorr_core.training.checkpoint import (
    Checkpoint,
    CheckpointError,
    ConfigMismatchError,
    ConfigMismatchWarning,
    capture_rng_state,
    checkpoint_path,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    read_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from semcorr_core.training.config import (
    ConfigError,
    apply_overrides,
    config_hash,
    dump_config,
    get_by_path,
    load_config,
    merge_configs,
)
from semcorr_core.training.distributed import DistributedContext, resolve_device
from semcorr_core.training.loop import (
    TrainConfig,
    Trainer,
    TrainHistory,
    TrainingError,
    WarmupCosine,
    derive_seed,
    fit,
    move_to_device,
    seed_everything,
    seed_worker,
    tensorboard_available,
)

__all__ = [
    # config
    "ConfigError",
    "load_config",
    "merge_configs",
    "apply_overrides",
    "get_by_path",
    "config_hash",
    "dump_config",
    # checkpoint
    "Checkpoint",
    "CheckpointError",
    "ConfigMismatchError",
    "ConfigMismatchWarning",
    "save_checkpoint",
    "load_checkpoint",
    "read_checkpoint",
    "latest_checkpoint",
    "list_checkpoints",
    "checkpoint_path",
    "capture_rng_state",
    "restore_rng_state",
    # distributed
    "DistributedContext",
    "resolve_device",
    # loop
    "TrainConfig",
    "TrainHistory",
    "Trainer",
    "TrainingError",
    "WarmupCosine",
    "fit",
    "derive_seed",
    "seed_everything",
    "seed_worker",
    "move_to_device",
    "tensorboard_available",
]
