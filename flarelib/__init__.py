"""flarelib: explainable full-disk solar flare forecasting.

A research compendium reproducing and extending Pandey, Angryk & Aydin (2023),
"Explainable Deep Learning-based Solar Flare Prediction with post hoc
Attention for Operational Forecasting" (arXiv:2308.02682).

Data flow, one way: sources (:mod:`~flarelib.magnetogram`,
:mod:`~flarelib.catalog`, :mod:`~flarelib.simulator`) ->
:mod:`~flarelib.labels` -> :mod:`~flarelib.store` -> dataset -> model ->
predictions -> metrics / attribution.
"""
from .errors import *  # noqa: F401,F403
from .goes import format_goes_class, parse_goes_class
from .magnetogram import Magnetogram, MagnetogramMeta, read_magnetogram

__version__ = "0.1.0"

__all__ = ["read_magnetogram", "Magnetogram", "MagnetogramMeta", "parse_goes_class", "format_goes_class", "__version__"]
