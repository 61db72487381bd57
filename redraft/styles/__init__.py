"""Learned style rules: mine what the writers keep changing, put it into the prompt."""
