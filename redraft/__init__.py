"""redraft: close the human-feedback loop for a fine-tuned email writer, inside Label Studio."""

__version__ = "0.1.0"
