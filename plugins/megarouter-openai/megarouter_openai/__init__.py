"""MegaRouter's plugin for the OpenAI-compatible Chat Completions API."""

from megarouter_openai.adapter import OpenAIAdapter

__all__ = ["OpenAIAdapter"]
