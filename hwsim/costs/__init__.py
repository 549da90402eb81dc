"""Analytic cost models: pure, vectorized numpy functions of a layer table and hardware spec(s).

* :mod:`~hwsim.costs.compute`: MACs, FLOPs and the extra op counts, with the counting rules.
* :mod:`~hwsim.costs.delay`: the Von-Neumann ASIC delay model of paper Eq. 7, 8 and 9.
* :mod:`~hwsim.costs.energy`: the same operations priced in pJ (the spec's ``energy`` section).
* :mod:`~hwsim.costs.memory`: weight storage in bits, per component.
* :mod:`~hwsim.costs.metrics`: the metric registry and :func:`costs`, every metric over a spec grid.
* :mod:`~hwsim.costs.specgrid`: many specs as arrays, validated once.
"""

from .metrics import METRICS, CostGrid, Metric, Total, costs, count_columns, count_frame, register_metric, total_rules
from .specgrid import SpecGrid, spec_grid

__all__ = [
    "METRICS",
    "CostGrid",
    "Metric",
    "SpecGrid",
    "Total",
    "costs",
    "count_columns",
    "count_frame",
    "register_metric",
    "spec_grid",
    "total_rules",
]
