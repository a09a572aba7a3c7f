"""flarelib: explainable full-disk solar flare forecasting.

A research compendium reproducing and extending Pandey, Angryk, Georgoulis &
Aydin (2023), "Explainable Deep Learning-based Solar Flare Prediction with
post hoc Attention for Operational Forecasting" (arXiv:2308.02682).

Subpackages, in the order data flows (each imports only from those before it):

* :mod:`flarelib.io` - sources: magnetograms, GOES classes, flare catalogs, downloads;
* :mod:`flarelib.data` - the label index, the image store, the training loader;
* :mod:`flarelib.verify` - skill scores, evaluation, baselines, uncertainty, calibration;
* :mod:`flarelib.sim` - the simulated Sun (the embedded data set and its oracle);
* :mod:`flarelib.model` - the network, checkpoints, training;
* :mod:`flarelib.forecast` - operational forecasts from a checkpoint;
* :mod:`flarelib.explain` - attribution maps and their measures;
* :mod:`flarelib.cli` - the command line.
"""
from .errors import *  # noqa: F401,F403
from .io.goes import format_goes_class, parse_goes_class
from .io.magnetogram import Magnetogram, MagnetogramMeta, read_magnetogram

__version__ = "0.1.0"

__all__ = ["read_magnetogram", "Magnetogram", "MagnetogramMeta", "parse_goes_class", "format_goes_class", "__version__"]
