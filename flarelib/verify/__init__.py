"""Forecast verification: skill scores, evaluation of prediction files, baselines, uncertainty and calibration."""
from .calibration import Calibrator, cross_fit, fit_calibrator
from .evaluation import evaluate, read_predictions
from .metrics import hss, skill_scores, tss

__all__ = ["tss", "hss", "skill_scores", "evaluate", "read_predictions", "Calibrator", "fit_calibrator", "cross_fit"]
