"""Reading a trained network: traces, gate saturation, top contexts, select/match, feature correlations and the
gradient against lag.  Everything here reads the layers' traces and backward passes; nothing re-implements the
cell equations.
"""

from .contexts import Context, top_contexts, top_steps
from .features import FEATURES, correlations, feature_units, python_features
from .gradients import GradientStudy, LagProfile, gradient_study, lag_profile
from .saturation import saturation, saturation_table
from .spans import match_spans, select_units
from .traces import KINDS, TextTrace, trace_layer, trace_text

__all__ = ["TextTrace", "trace_text", "trace_layer", "KINDS", "saturation", "saturation_table", "top_contexts",
           "top_steps", "Context", "select_units", "match_spans", "python_features", "correlations",
           "feature_units", "FEATURES", "lag_profile", "gradient_study", "LagProfile", "GradientStudy"]
