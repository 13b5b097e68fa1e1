"""MegaRouter's plugin for Azure OpenAI deployments."""

from megarouter_azure.adapter import AzureOpenAIAdapter

__all__ = ["AzureOpenAIAdapter"]
