"""Exporters: completed Label Studio tasks become validated training datasets."""
