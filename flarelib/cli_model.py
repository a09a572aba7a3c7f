"""CLI subcommands of the later pipeline stages (simulate, train, evaluate, forecast, explain)."""
from __future__ import annotations


def add_commands(sub) -> None:
    """Register the model-side subcommands on the ``flarelib`` parser."""
    return None
