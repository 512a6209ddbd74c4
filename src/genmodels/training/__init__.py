from genmodels.training.trainer import TrainConfig, Trainer, TrainingDiverged, TrainResult

__all__ = ["TrainConfig", "TrainResult", "Trainer", "TrainingDiverged"]
