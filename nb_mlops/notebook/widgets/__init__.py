"""Notebook widgets: run comparison, curves, data diff, run detail, live run chart, monitoring.

The building blocks (TableWidget, CurvesWidget, RowDiffWidget, Chart) are meant for reuse by
later views. Charts are plain JSON specs drawn by our front-end extension (chart.py); every
widget's bundle also carries a static text/html fallback (see render.py). Names load on first
use, so importing this package (at `%load_ext`) does not import ipywidgets or numpy.
"""

from __future__ import annotations

from nb_mlops.lazy import exports

_EXPORTS = {
    "Chart": "chart",
    "TableWidget": "table",
    "CurvesWidget": "curves",
    "RunComparisonWidget": "compare",
    "DataDiffWidget": "datadiff",
    "RowDiffWidget": "datadiff",
    "RunDetailWidget": "detail",
    "LiveChart": "live",
    "MonitoringWidget": "monitoring",
    "widget_for": "render",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = exports(__name__, _EXPORTS)
