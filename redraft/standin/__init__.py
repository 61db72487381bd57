"""An OpenAI-compatible stand-in server for tests, benchmarks and offline demos."""
