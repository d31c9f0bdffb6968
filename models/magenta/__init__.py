"""Magenta import: TF checkpoints and magenta.js weights -> GrooVAE safetensors, and fetching the published checkpoints."""
