"""Entry point: load the stack's settings, then compose the platform."""

from stacks.config import load_from_engine
from stacks.platform import deploy

deploy(load_from_engine())
