"""Workload: network -> layer table (shapes only), its schema and its on-disk cache.

* :mod:`~hwsim.workload.table`: the declared schema and the columnar :class:`LayerTable` (torch-free);
* :mod:`~hwsim.workload.extract`: walk any ``nn.Module`` on the meta device (imports torch);
* :mod:`~hwsim.workload.cache`: tables keyed on the model's shape settings and hwsim's whole source.
"""

from __future__ import annotations

from .table import COLUMNS, SCHEMA, Column, LayerTable, schema_markdown

__all__ = ["COLUMNS", "SCHEMA", "Column", "LayerTable", "extract_layers", "schema_markdown"]


def __getattr__(name: str):
    if name == "extract_layers":  # torch is imported only when a walk is asked for
        from .extract import extract_layers

        return extract_layers
    raise AttributeError(name)
