"""The `face-verify` command (`python -m client` in the checkout): one entry point, `main`;
each sub-command in its own module with an `add(commands, common)` that adds its parser."""
from .main import build_parser, main

__all__ = ["build_parser", "main"]
