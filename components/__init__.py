"""Kubernetes building blocks and one ComponentResource per platform tier.

Components take typed args and return outputs; they never read Pulumi config.
"""
