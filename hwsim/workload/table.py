"""The layer table: one row per compute layer, shapes only, with a declared schema.

Every consumer (the extractor, the cache, the cost models, the formats and the README's table)
reads the columns declared here; nothing else spells a column name out. Costs are not columns of
this table: :mod:`hwsim.costs` computes them from it.

The table is a light columnar object (1-D numpy arrays per column plus ``attrs``) so that a cached
estimate needs neither torch nor pandas; :meth:`LayerTable.to_frame` gives a DataFrame on demand.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str  # "int", "float", "bool" or "str"
    unit: str
    meaning: str

    @property
    def numpy_dtype(self):
        return {"int": np.int64, "float": np.float64, "bool": np.bool_, "str": object}[self.dtype]


SCHEMA: tuple[Column, ...] = (
    Column("name", "str", "", "module path; a layer called again (weight sharing) is another row, `name#2`"),
    Column("op", "str", "", "`conv`, `linear` or `film_linear` (one row per OAT FiLM MLP linear)"),
    Column("kernel_h", "int", "", "kernel height k_h (1 for linear rows)"),
    Column("kernel_w", "int", "", "kernel width k_w (1 for linear rows)"),
    Column("in_channels", "int", "", "input channels C_i (linear: in_features)"),
    Column("out_channels", "int", "", "output channels C_o (linear: out_features)"),
    Column("groups", "int", "", "conv groups (1 for linear rows)"),
    Column("stride_h", "int", "px", "vertical stride"),
    Column("stride_w", "int", "px", "horizontal stride"),
    Column("padding_h", "int", "px", "zero padding on each side, vertically ('same' resolved)"),
    Column("padding_w", "int", "px", "zero padding on each side, horizontally"),
    Column("dilation_h", "int", "", "vertical dilation"),
    Column("dilation_w", "int", "", "horizontal dilation"),
    Column("in_h", "int", "px", "input map height (linear: 1)"),
    Column("in_w", "int", "px", "input map width (linear: positions, e.g. tokens; else 1)"),
    Column("out_h", "int", "px", "output map height H_o"),
    Column("out_w", "int", "px", "output map width W_o"),
    Column("weight_params", "int", "params", "stored weights (0 on a repeated call of a shared layer)"),
    Column("bias_params", "int", "params", "stored biases"),
    Column("noisy", "bool", "", "FLOAT noisy-weight layer (theta + lambda alpha eta, Eq. 4)"),
    Column("alpha_params", "int", "params", "FLOAT's trainable noise scale alpha (1 per noisy layer)"),
    Column("bn_params", "int", "params", "affine parameters of the BN (dual BN: both) that consumes this row's output"),
    Column("film_params", "int", "params", "parameters of the FiLM modulating this row's output (cross-reference; counted on its film_linear rows)"),
    Column("film_channels", "int", "", "width C of the FiLM that modulates this row's output (0: none)"),
    Column("conditions", "str", "", "film_linear rows: the conv whose output the FiLM modulates"),
    Column("density", "float", "", "fraction of the row's weights kept (1: dense; FLOATS irregular sparsity)"),
    Column("full_in_channels", "int", "", "C_i of the full network, before channel pruning (FLOATS-c) or slimming (= in_channels when neither)"),
    Column("full_out_channels", "int", "", "C_o of the full network, before slimming (= out_channels when not slimmed)"),
)  # fmt: skip

COLUMNS: dict[str, Column] = {c.name: c for c in SCHEMA}
PARAM_COLUMNS = ("weight_params", "bias_params", "bn_params", "alpha_params")  # every parameter, once


class LayerTable:
    """Columns of :data:`SCHEMA` as equal-length 1-D numpy arrays, plus ``attrs``.

    ``attrs`` holds ``model_params`` (all of the model's parameters, counted directly),
    ``other_params`` (parameters no row accounts for), ``input_shape`` and ``untied`` (norm / FiLM
    modules whose input no conv or linear produced: their parameters are in ``other_params``).
    """

    __slots__ = ("_columns", "attrs")

    def __init__(self, columns: dict[str, Any], attrs: dict[str, Any] | None = None) -> None:
        missing = [c.name for c in SCHEMA if c.name not in columns]
        extra = [name for name in columns if name not in COLUMNS]
        if missing or extra:
            raise ValueError(f"layer table columns do not match the schema: missing {missing}, unknown {extra}")
        self._columns = {c.name: np.asarray(columns[c.name], dtype=c.numpy_dtype) for c in SCHEMA}
        lengths = {len(v) for v in self._columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"layer table columns differ in length: {sorted(lengths)}")
        self.attrs: dict[str, Any] = dict(attrs or {})

    def __getitem__(self, name: str) -> np.ndarray:
        return self._columns[name]

    def __len__(self) -> int:
        return len(self._columns["name"])

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    @property
    def columns(self) -> list[str]:
        return list(self._columns)

    def to_frame(self):
        """The table as a pandas DataFrame (``attrs`` copied)."""
        import pandas as pd

        frame = pd.DataFrame(self._columns)
        frame.attrs.update(self.attrs)
        return frame

    def to_json(self) -> dict[str, Any]:
        return {
            "columns": {name: values.tolist() for name, values in self._columns.items()},
            "attrs": {k: list(v) if isinstance(v, tuple) else v for k, v in self.attrs.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LayerTable:
        attrs = {k: tuple(v) if k == "input_shape" else v for k, v in data["attrs"].items()}
        return cls(data["columns"], attrs)

    def equals(self, other: LayerTable) -> bool:
        return self.attrs == other.attrs and all(np.array_equal(self[c], other[c]) for c in self._columns)

    def __repr__(self) -> str:
        return f"<LayerTable {len(self)} rows x {len(self._columns)} columns>"


OPS = ("conv", "linear", "film_linear")
POSITIVE = ("kernel_h", "kernel_w", "in_channels", "out_channels", "groups", "stride_h", "stride_w",
            "dilation_h", "dilation_w", "in_h", "in_w", "out_h", "out_w")  # fmt: skip
INT_LIMIT = 2**53  # a count at or above this is no layer's (and would not stay exact in float64)


def _is_int(value: Any) -> bool:
    return type(value) is int


def check_table_json(data: Any) -> None:
    """Raise ValueError naming the first column or attr of ``data`` (a :meth:`LayerTable.to_json`
    dict, e.g. read back from a file) that breaks the schema: types per column, whole numbers in
    [0, 2^53) (kernel, channels, groups, strides, dilations and map sizes >= 1), a known ``op``,
    ``density`` finite in (0, 1], equal lengths, and the attrs the cost code reads."""
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("columns"), dict)
        or not isinstance(data.get("attrs"), dict)
    ):
        raise ValueError("not a layer table (columns / attrs)")
    columns, attrs = data["columns"], data["attrs"]
    if sorted(columns) != sorted(COLUMNS):
        raise ValueError(f"columns differ from the schema: {sorted(set(columns) ^ set(COLUMNS))}")
    lengths = {len(v) if isinstance(v, list) else -1 for v in columns.values()}
    if len(lengths) != 1 or -1 in lengths:
        raise ValueError("columns are not lists of one length")
    checks = {
        "int": lambda v: _is_int(v) and 0 <= v < INT_LIMIT,
        "bool": lambda v: type(v) is bool,
        "str": lambda v: type(v) is str,
        "float": lambda v: type(v) is float and math.isfinite(v) and 0 < v <= 1,  # density
    }
    for column in SCHEMA:
        ok = checks[column.dtype]
        if column.name in POSITIVE:
            ok = lambda v: _is_int(v) and 1 <= v < INT_LIMIT  # noqa: E731
        elif column.name == "op":
            ok = lambda v: v in OPS  # noqa: E731
        bad = next((v for v in columns[column.name] if not ok(v)), _NONE)
        if bad is not _NONE:
            raise ValueError(f"column {column.name}: bad value {bad!r:.40}")
    _check_consistent(columns)
    for name in ("model_params", "other_params"):
        if not (_is_int(attrs.get(name)) and 0 <= attrs[name] < INT_LIMIT):
            raise ValueError(f"attrs.{name}: missing or not a whole number >= 0")
    shape = attrs.get("input_shape")
    if not (isinstance(shape, list) and len(shape) == 3 and all(_is_int(v) and v >= 1 for v in shape)):
        raise ValueError("attrs.input_shape: missing or not three whole numbers >= 1")
    if attrs["model_params"] != sum(sum(columns[c]) for c in PARAM_COLUMNS) + attrs["other_params"]:
        raise ValueError("attrs.model_params: differs from the parameters of the rows")
    if not (isinstance(attrs.get("untied", []), list) and all(type(v) is str for v in attrs.get("untied", []))):
        raise ValueError("attrs.untied: not a list of module names")


_NONE = object()


def _check_consistent(columns: dict[str, list]) -> None:
    """Rows whose columns contradict each other (a kernel edited without its weights, a map size that
    no conv arithmetic gives) are not a walked table: each row's ``weight_params`` is 0 (a shared
    layer's repeat) or k_h k_w (C_i / groups) C_o, and each output size is the conv formula's."""
    c = columns
    for i, name in enumerate(c["name"]):
        weights = c["kernel_h"][i] * c["kernel_w"][i] * (c["in_channels"][i] // c["groups"][i]) * c["out_channels"][i]
        if c["weight_params"][i] not in (0, weights):
            raise ValueError(f"row {name!r:.40}: weight_params {c['weight_params'][i]} is not k_h k_w C_i/groups C_o")
        for axis in "hw":
            span = c[f"dilation_{axis}"][i] * (c[f"kernel_{axis}"][i] - 1) + 1
            size = (c[f"in_{axis}"][i] + 2 * c[f"padding_{axis}"][i] - span) // c[f"stride_{axis}"][i] + 1
            if size != c[f"out_{axis}"][i]:
                raise ValueError(f"row {name!r:.40}: out_{axis} {c[f'out_{axis}'][i]} is not the conv formula's {size}")


def schema_markdown() -> str:
    """The schema as a Markdown table (README's layer-table section is this text, tested)."""
    lines = ["| column | type | unit | meaning |", "|---|---|---|---|"]
    lines += [f"| `{c.name}` | {c.dtype} | {c.unit} | {c.meaning} |" for c in SCHEMA]
    return "\n".join(lines) + "\n"
