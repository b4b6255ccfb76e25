"""Pictures of what a network does: the self-contained HTML report and PNG figures (matplotlib, optional).

``explain(model, text, out="report.html", png="figures/")`` is what ``lstm explain`` runs.
"""

from .explain import Explanation, explain

__all__ = ["explain", "Explanation"]
