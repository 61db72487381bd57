"""The Label Studio ML backend: drafts each brief from the active model version."""
