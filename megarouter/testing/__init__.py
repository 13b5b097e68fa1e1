"""Test kit for MegaRouter plugins and deployments."""
