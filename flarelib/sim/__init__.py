"""The embedded data set: a simulated Sun (full-disk magnetograms, GOES flares) with a known oracle.

Four parts with one job each - :mod:`.observer`, :mod:`.population` (with :mod:`.cycle`), :mod:`.flares`,
:mod:`.renderer` - assembled by :class:`~.simulator.Simulator`.
"""
from .simulator import SimConfig, Simulator, simulate_to_jp2, simulate_to_store

__all__ = ["SimConfig", "Simulator", "simulate_to_store", "simulate_to_jp2"]
