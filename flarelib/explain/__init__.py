"""Post hoc explanations (captum): Guided Grad-CAM, Deep SHAP, Integrated Gradients, and their measures."""
from .attribution import METHODS, explain, explain_files

__all__ = ["METHODS", "explain", "explain_files"]
