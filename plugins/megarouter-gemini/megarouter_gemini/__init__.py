"""Google Gemini (and Vertex AI Gemini) for MegaRouter."""

from megarouter_gemini.adapter import GeminiAdapter

__all__ = ["GeminiAdapter"]
