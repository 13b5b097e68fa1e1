"""The Cohere v2 protocol family for MegaRouter."""

from megarouter_cohere.adapter import CohereAdapter

__all__ = ["CohereAdapter"]
