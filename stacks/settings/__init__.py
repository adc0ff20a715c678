"""Typed, frozen stack settings: profile defaults merged with the stack's overrides."""

from stacks.settings.root import PlatformSettings

__all__ = ["PlatformSettings"]
