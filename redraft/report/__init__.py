"""Quality reports per model version, and blind A/B comparison."""
