"""The Ollama protocol family for MegaRouter."""

from megarouter_ollama.adapter import OllamaAdapter

__all__ = ["OllamaAdapter"]
