"""Errors of the retraining area; each message says what failed, why, and what to do."""

from redraft.errors import RedraftError


class RegistryError(RedraftError):
    """The model registry refused an operation (unknown version, wrong status, …)."""


class ExportFolderError(RedraftError):
    """An export folder is missing files, has a broken manifest or a file whose hash differs."""


class TrainingInProgressError(RedraftError):
    """Another training run is going on; only one runs at a time."""


class TrainingFailedError(RedraftError):
    """A training job failed or was cancelled; no candidate was registered."""


class FineTuningUnavailableError(RedraftError):
    """OpenAI self-serve fine-tuning is closed (after 2027-01-06) or refused by the API."""


class TrainExtraMissingError(RedraftError):
    """The optional [train] extra (torch, transformers, trl, peft, datasets) is not installed."""
