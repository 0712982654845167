"""xDR fine-tuning: contrastive training of a bi-encoder retriever with in-batch negatives.

- :mod:`~xqg_lab.train.config`: :class:`TrainingConfig`, every hyper-parameter of a run;
- :mod:`~xqg_lab.train.loop`: the InfoNCE loss and :func:`train_biencoder`;
- :mod:`~xqg_lab.train.checkpoints`: start points, saved checkpoints, :func:`encoder_from_checkpoint`;
- :mod:`~xqg_lab.train.job`: config files (``configs/finetune_*.yaml``) as a :class:`TrainingJob`;
- :mod:`~xqg_lab.train.cli`: ``xqg-lab train`` (:func:`main`).

The training data readers (XQuAD article split, DPR/Tevatron files) live in
:mod:`xqg_lab.data.training` and are re-exported here.
"""

from xqg_lab.data.training import TrainEvalSplit, read_dpr_training_file, xquad_training_split
from xqg_lab.train.checkpoints import CHECKPOINT_FILE, encoder_from_checkpoint
from xqg_lab.train.cli import main
from xqg_lab.train.config import Precision, TrainingConfig
from xqg_lab.train.job import (
    DataSource,
    DPRTrainingData,
    TrainingJob,
    XQuADTrainingData,
    load_training_config,
    parse_training_job,
    prepare_training_data,
    run_training_job,
)
from xqg_lab.train.loop import TrainingResult, build_in_batch_passages, contrastive_loss, train_biencoder

__all__ = [
    "CHECKPOINT_FILE",
    "DataSource",
    "DPRTrainingData",
    "Precision",
    "TrainEvalSplit",
    "TrainingConfig",
    "TrainingJob",
    "TrainingResult",
    "XQuADTrainingData",
    "build_in_batch_passages",
    "contrastive_loss",
    "encoder_from_checkpoint",
    "load_training_config",
    "main",
    "parse_training_job",
    "prepare_training_data",
    "read_dpr_training_file",
    "run_training_job",
    "train_biencoder",
    "xquad_training_split",
]
