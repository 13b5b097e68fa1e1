"""The Anthropic Messages protocol family for MegaRouter."""

from megarouter_anthropic.adapter import AnthropicAdapter

__all__ = ["AnthropicAdapter"]
