"""Retraining: the model registry and the OpenAI and TRL trainers."""
