"""Amazon Bedrock (Converse API) for MegaRouter."""

from megarouter_bedrock.adapter import BedrockAdapter

__all__ = ["BedrockAdapter"]
