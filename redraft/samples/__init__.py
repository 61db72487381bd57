"""Sample briefs shipped for the demo."""
