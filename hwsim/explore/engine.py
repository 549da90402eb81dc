"""The sweep engine: a design-space product evaluated chunk by chunk, in bounded memory.

The axes' product is never materialised. Point ``i`` of the product is decoded in mixed radix (the
last axis varies fastest), so a chunk ``[start, stop)`` of point indices becomes one array per swept
field; the constraints mask it; :meth:`SpecGrid.from_base` builds the chunk's grid (validated once)
and :func:`hwsim.costs.costs` costs it for every job (model x condition; the layer tables are built
once, when the sweep is planned). Per chunk only the per-model Pareto fronts of the rows are kept,
with running aggregates (counts, min / max per objective) and, optionally, every row.

:func:`evaluate_chunk` is a pure function of picklable inputs (a :class:`SweepPlan` and two
integers) returning a picklable :class:`ChunkResult`: a distributed engine maps it over the chunks
and hands the results to :func:`combine`: ``run_plan(engine="local")`` runs them here, one after the
other; ``engine="dask"`` maps them over Dask workers (:mod:`hwsim.explore.dask_engine`), same results.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config import HardwareSpec, ModelConfig, clip, is_file, load_model_config, load_spec, spec_file
from ..costs.metrics import METRICS, costs, total_rules
from ..costs.specgrid import HIER_FIELDS, HIER_GROUP, SpecGrid
from ..costs.specgrid import field_values as spec_field_values
from ..errors import HwsimError
from ..methods import FILM, PROPOSED, method_for_role
from .config import (
    DEFAULT_OBJECTIVES,
    DERIVED,
    LEAD_LATENCY,
    SweepConfig,
    accuracy_column,
    accuracy_name,
    axis_values,
    no_hierarchy,
    parse_constraint,
    parse_sweep,
    spec_fields,
)

DEFAULT_CHUNK = 1 << 18  # design points per chunk
KEEP_POINTS_ROWS = 2_000_000  # rows (points x jobs) kept in memory for points.parquet when not told
ENGINES = ("local", "dask")


# ---------------------------------------------------------------------------------------------
# the plan: everything a chunk needs, picklable


@dataclass
class Job:
    """One model at one condition: its layer table and how it is costed."""

    model: str
    label: str
    method: str
    condition: float
    table: Any  # LayerTable (picklable: numpy columns + attrs)
    noise_active: bool
    accuracy: dict[str, float] = field(default_factory=dict)  # column -> value, constant over the points


@dataclass
class SweepPlan:
    base: HardwareSpec
    axes: dict[str, np.ndarray]  # swept field -> values (product order: the last varies fastest)
    constraints: list  # of config.Constraint
    jobs: list[Job]
    metrics: list[str]  # the registry metrics the totals need
    totals: list[str]  # the totals carried into the rows
    objectives: list[tuple[str, bool]]  # (column, maximise)
    attribution: str = "paper"
    keep_points: bool = False
    heatmap: tuple[int, int, str, str] | None = None  # (OAT job, FLOAT job, x axis, y axis)
    source: str = "sweep"  # the sweep file, for messages
    latency: str = "delay_ns"  # the lead cost model's latency total: always carried, the heat map's ratio
    default_objectives: bool = False  # the sweep file gives no objectives: the lead model's defaults
    inputs: list[str] = field(default_factory=list)  # the files and run folders read: never overwritten

    @property
    def size(self) -> int:
        return math.prod(len(v) for v in self.axes.values())

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(j.model for j in self.jobs))

    @property
    def accuracy_columns(self) -> list[str]:
        return list(dict.fromkeys(c for j in self.jobs for c in j.accuracy))

    @property
    def columns(self) -> list[str]:
        return [
            "model",
            "label",
            "method",
            "condition",
            "point",
            *self.axes,
            *self.totals,
            *DERIVED,
            *self.accuracy_columns,
        ]


def decode(axes: dict[str, np.ndarray], start: int, stop: int) -> dict[str, np.ndarray]:
    """Per swept field, its value at each point index in [start, stop) (mixed radix, last axis fastest)."""
    index = np.arange(start, stop, dtype=np.int64)
    out, stride = {}, 1
    for name in reversed(list(axes)):
        values = axes[name]
        out[name] = values[(index // stride) % len(values)]
        stride *= len(values)
    return {name: out[name] for name in axes}


def field_values(plan: SweepPlan, swept: dict[str, np.ndarray]) -> dict[str, np.ndarray | float | int]:
    """Every spec field: the swept arrays, the base's scalars for the rest."""
    return {**spec_field_values(plan.base), **swept}


def feasible_mask(plan: SweepPlan, swept: dict[str, np.ndarray], n: int) -> tuple[np.ndarray, list[int]]:
    values = field_values(plan, swept)
    mask, passing = np.ones(n, bool), []
    for c in plan.constraints:
        ok = np.broadcast_to(c.mask(values), (n,))
        passing.append(int(ok.sum()))
        mask &= ok
    return mask, passing


# ---------------------------------------------------------------------------------------------
# Pareto fronts


def nondominated(matrix: np.ndarray) -> np.ndarray:
    """Rows of ``matrix`` (minimised) not dominated by any other row; equal rows are all kept
    (moocore's dimension-sweep algorithms, keep_weakly)."""
    if len(matrix) == 0:
        return np.zeros(0, bool)
    if matrix.shape[1] == 1:
        return matrix[:, 0] == matrix[:, 0].min()
    import moocore

    return np.asarray(moocore.is_nondominated(matrix, keep_weakly=True), bool)


def objective_matrix(columns: dict[str, np.ndarray] | pd.DataFrame, objectives) -> np.ndarray:
    """The objectives as columns to minimise (a maximised one negated)."""
    return np.column_stack(
        [(-1.0 if maximise else 1.0) * np.asarray(columns[name], np.float64) for name, maximise in objectives]
    )


def pareto_front(df: pd.DataFrame, objectives) -> pd.DataFrame:
    """The rows of ``df`` on the Pareto front of ``objectives``: a list of ``(column, maximise)``,
    of ``{"min": column}`` / ``{"max": column}`` mappings, or of column names (minimised). Rows equal
    in every objective are all kept. The order of ``df`` is kept."""
    pairs = []
    for obj in objectives:
        if isinstance(obj, str):
            pairs.append((obj, False))
        elif isinstance(obj, dict):
            ((sense, column),) = obj.items()
            pairs.append((column, sense == "max"))
        elif hasattr(obj, "column"):
            pairs.append((obj.column, obj.maximise))
        else:
            pairs.append((obj[0], bool(obj[1])))
    missing = [c for c, _ in pairs if c not in df.columns]
    if missing:
        raise HwsimError(f"pareto_front: no column {missing[0]!r} in the frame")
    return df[nondominated(objective_matrix(df, pairs))]


# ---------------------------------------------------------------------------------------------
# one chunk


@dataclass
class ChunkResult:
    start: int
    stop: int
    feasible: int
    passing: list[int]  # points passing each constraint
    front: pd.DataFrame  # rows on their model's front within this chunk
    minimum: dict[str, float]
    maximum: dict[str, float]
    points: pd.DataFrame | None = None
    heat_min: np.ndarray | None = None  # (len(y), len(x)) min OAT / FLOAT delay ratio per cell
    heat_max: np.ndarray | None = None
    seconds: float = 0.0
    chunks: int = 1  # how many chunks this result stands for (fold_results merges several)


#: Chunk fronts are folded into one running front whenever the rows waiting to be folded pass this:
#: the sweep's memory is the running front plus this many rows, at any sweep size.
FOLD_ROWS = 1 << 18


def fold_results(plan: SweepPlan, results: list[ChunkResult]) -> ChunkResult:
    """Several chunk results as one: each model's front re-filtered over their union (the front of a
    union is the front of the parts' fronts, see :func:`combine`), counts and constraint passes
    summed, minima / maxima and heat-map cells reduced, kept points concatenated. Any grouping or
    order gives the same :func:`combine` output (its rows are sorted at the end)."""
    if len(results) == 1:
        return results[0]
    fronts = [r.front for r in results if len(r.front)]
    union = pd.concat(fronts, ignore_index=True) if fronts else results[0].front.iloc[:0]
    front = pd.concat(
        [pareto_front(union[union["model"] == m], plan.objectives) for m in plan.models] or [union.iloc[:0]],
        ignore_index=True,
    )
    kept = [r.points for r in results if r.points is not None and len(r.points)]
    lows = [r.heat_min for r in results if r.heat_min is not None]
    highs = [r.heat_max for r in results if r.heat_max is not None]
    columns = list(dict.fromkeys(c for r in results for c in r.minimum))  # a chunk with no feasible point has none
    return ChunkResult(
        start=min(r.start for r in results),
        stop=max(r.stop for r in results),
        feasible=sum(r.feasible for r in results),
        passing=[sum(p) for p in zip(*(r.passing for r in results))],
        front=front,
        minimum={c: min(r.minimum[c] for r in results if c in r.minimum) for c in columns},
        maximum={c: max(r.maximum[c] for r in results if c in r.maximum) for c in columns},
        points=pd.concat(kept, ignore_index=True) if kept else None,
        heat_min=np.minimum.reduce(lows) if lows else None,
        heat_max=np.maximum.reduce(highs) if highs else None,
        seconds=sum(r.seconds for r in results),
        chunks=sum(r.chunks for r in results),
    )


class Folder:
    """Receives chunk results in any order and keeps them folded (:func:`fold_results`) so that at
    most the running front plus :data:`FOLD_ROWS` waiting rows are held; kept points (small sweeps
    only) are held whole."""

    def __init__(self, plan: SweepPlan) -> None:
        self.plan, self.folded, self.waiting, self.rows = plan, None, [], 0

    def add(self, result: ChunkResult) -> None:
        self.waiting.append(result)
        self.rows += len(result.front)
        if self.rows > FOLD_ROWS:
            self.folded = fold_results(self.plan, [r for r in (self.folded, *self.waiting) if r is not None])
            self.waiting, self.rows = [], 0

    def results(self) -> list[ChunkResult]:
        return [r for r in (self.folded, *self.waiting) if r is not None]


def _rows(plan: SweepPlan, swept: dict[str, np.ndarray], point: np.ndarray, totals: list[dict]) -> dict[str, Any]:
    """The chunk's rows as columns: every job's block of the feasible points, one after another."""
    n, jobs = len(point), plan.jobs
    values = field_values(plan, swept)
    io_bits = np.broadcast_to(np.asarray(values["n_banks"], np.int64) * values["io_bandwidth_bits"], (n,))
    wpr = np.broadcast_to(
        np.asarray(values["io_bandwidth_bits"], np.float64) / values["weight_bits"] * values["n_banks"], (n,)
    )
    cols: dict[str, Any] = {
        "job": np.repeat(np.arange(len(jobs), dtype=np.int32), n),
        "point": np.tile(point, len(jobs)),
        **{k: np.tile(v, len(jobs)) for k, v in swept.items()},
        **{t: np.concatenate([tot[t] for tot in totals]) for t in plan.totals},
        "io_bits": np.tile(io_bits, len(jobs)),
        "weights_per_read": np.tile(wpr, len(jobs)),
    }
    for column in plan.accuracy_columns:
        cols[column] = np.repeat(np.array([j.accuracy.get(column, np.nan) for j in jobs], np.float64), n)
    return cols


def _categorical(per_job: list[str], job: np.ndarray) -> pd.Categorical:
    categories = list(dict.fromkeys(per_job))
    return pd.Categorical.from_codes(np.array([categories.index(v) for v in per_job])[job], categories=categories)


def _frame(plan: SweepPlan, cols: dict[str, Any], keep: np.ndarray | slice) -> pd.DataFrame:
    job = cols["job"][keep]
    jobs = plan.jobs
    frame = pd.DataFrame(
        {
            "model": pd.Categorical.from_codes(
                np.array([plan.models.index(j.model) for j in jobs])[job], categories=plan.models
            ),
            # categoricals, not object strings: a front of millions of rows stays small
            "label": _categorical([j.label for j in jobs], job),
            "method": _categorical([j.method for j in jobs], job),
            "condition": np.array([j.condition for j in jobs], np.float64)[job],
            **{k: v[keep] for k, v in cols.items() if k != "job"},
        }
    )
    return frame[plan.columns]


def _heat(plan: SweepPlan, swept, totals) -> tuple[np.ndarray, np.ndarray] | None:
    if plan.heatmap is None:
        return None
    oat, flt, xname, yname = plan.heatmap
    xs, ys = plan.axes[xname], plan.axes[yname]
    ratio = totals[oat][plan.latency] / totals[flt][plan.latency]
    cell = _index_of(ys, swept[yname]) * len(xs) + _index_of(xs, swept[xname])
    lo = np.full(len(xs) * len(ys), np.inf)
    hi = np.full(len(xs) * len(ys), -np.inf)
    np.minimum.at(lo, cell, ratio)
    np.maximum.at(hi, cell, ratio)
    return lo.reshape(len(ys), len(xs)), hi.reshape(len(ys), len(xs))


def _index_of(values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Where each of ``wanted`` sits in ``values`` (an axis: distinct values, in any order)."""
    order = np.argsort(values, kind="stable")
    return order[np.searchsorted(values[order], wanted)]


def evaluate_chunk(plan: SweepPlan, start: int, stop: int) -> ChunkResult:
    """Points [start, stop) of the product: constraints, costs of every job, per-model fronts,
    aggregates (and every row when ``plan.keep_points``). Pure: reads only its arguments."""
    began = time.perf_counter()
    swept = decode(plan.axes, start, stop)
    mask, passing = feasible_mask(plan, swept, stop - start)
    point = np.arange(start, stop, dtype=np.int64)[mask]
    swept = {k: v[mask] for k, v in swept.items()}
    n = len(point)
    empty = ChunkResult(start, stop, 0, passing, pd.DataFrame(columns=plan.columns), {}, {})
    if n == 0:
        return empty
    grid = SpecGrid.from_base(plan.base, **swept)
    totals = []
    for job in plan.jobs:
        try:
            totals.append(
                costs(
                    job.table, grid, job.method, attribution=plan.attribution, noise_active=job.noise_active,
                    metrics=plan.metrics,
                ).totals
            )  # fmt: skip
        except HwsimError as exc:  # e.g. a capacity too small for a layer's smallest tile: name the sweep
            raise HwsimError(f"{plan.source}: {job.model}: {exc}") from None
    cols = _rows(plan, swept, point, totals)
    matrix = objective_matrix(cols, plan.objectives)
    on_front = np.zeros(len(matrix), bool)
    for model in plan.models:
        blocks = [j for j, job in enumerate(plan.jobs) if job.model == model]
        rows = np.concatenate([np.arange(j * n, (j + 1) * n) for j in blocks])
        on_front[rows[nondominated(matrix[rows])]] = True
    columns = [*plan.totals, *DERIVED, *(c for c, _ in plan.objectives)]
    minimum = {c: float(np.min(cols[c])) for c in dict.fromkeys(columns) if c in cols}
    maximum = {c: float(np.max(cols[c])) for c in dict.fromkeys(columns) if c in cols}
    heat = _heat(plan, swept, totals)
    return ChunkResult(
        start, stop, n, passing, _frame(plan, cols, on_front), minimum, maximum,
        points=_frame(plan, cols, slice(None)) if plan.keep_points else None,
        heat_min=heat[0] if heat else None, heat_max=heat[1] if heat else None,
        seconds=time.perf_counter() - began,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# combining chunks


@dataclass
class SweepResult:
    """A finished sweep. ``front``: the rows on the Pareto front of all models together;
    ``model_fronts``: each model's own front; ``points``: every feasible row (None unless kept);
    ``aggregates``: per column min / max over every feasible row; ``counts``: points (the axes'
    product), feasible points, rows (feasible points x jobs), front sizes; ``heatmap``: the OAT / FLOAT
    delay ratio over two axes (min and max over the other axes), when the sweep has both (the
    hierarchy model's ``hier_latency_ns`` ratio when the base spec's ``cost_model`` is ``hierarchy``)."""

    plan: SweepPlan
    front: pd.DataFrame
    model_fronts: dict[str, pd.DataFrame]
    points: pd.DataFrame | None
    aggregates: dict[str, dict[str, float]]
    counts: dict[str, Any]
    constraint_passing: dict[str, int]
    heatmap: dict[str, Any] | None
    seconds: float

    @property
    def objectives(self) -> list[tuple[str, bool]]:
        return self.plan.objectives

    def best(self) -> dict[str, dict[str, Any]]:
        """Per objective, its best value over the feasible rows and the front row that has it."""
        out = {}
        for column, maximise in self.plan.objectives:
            values = self.front[column]
            at = values.idxmax() if maximise else values.idxmin()
            row = self.front.loc[at]
            out[column] = {
                "sense": "max" if maximise else "min",
                "value": float(row[column]),
                "model": str(row["model"]),
                "condition": float(row["condition"]),
                **{k: row[k].item() for k in self.plan.axes},
            }
        return out


def combine(plan: SweepPlan, results: list[ChunkResult], seconds: float = 0.0) -> SweepResult:
    """The sweep from its chunks. Each model's front is the front of the union of that model's
    chunk fronts, and the overall front the front of the union of the model fronts: this equals the
    front of all rows, because a row dominated in the whole set is dominated by some row that is
    itself nondominated (dominance is transitive and the set finite), and a row nondominated in the
    whole set is nondominated in every subset that holds it (its chunk, its model), so it survives
    every filtering step."""
    results = sorted(results, key=lambda r: r.start)
    order = ["model", "condition", "point"]  # one row order, however the points were chunked
    empty = ChunkResult(0, 0, 0, [0] * len(plan.constraints), pd.DataFrame(columns=plan.columns), {}, {}, chunks=0)
    whole = fold_results(plan, results) if results else empty  # each model's front over every chunk
    model_fronts = {
        model: whole.front[whole.front["model"] == model].sort_values(order, kind="stable").reset_index(drop=True)
        for model in plan.models
    }
    union = [f for f in model_fronts.values() if len(f)]
    union = pd.concat(union, ignore_index=True) if union else whole.front.iloc[:0]
    front = pareto_front(union, plan.objectives)
    front = front.assign(model=pd.Categorical(front["model"].astype(str), categories=plan.models))
    front = front.sort_values(order, kind="stable").reset_index(drop=True)
    aggregates = {c: {"min": whole.minimum[c], "max": whole.maximum[c]} for c in whole.minimum}
    points = None
    if plan.keep_points:
        points = whole.points if whole.points is not None else pd.DataFrame(columns=plan.columns)
        points = points.sort_values(order, kind="stable").reset_index(drop=True)
    passing = {c.text: whole.passing[i] for i, c in enumerate(plan.constraints)}
    heatmap = None
    if plan.heatmap is not None and whole.heat_min is not None:
        oat, flt, xname, yname = plan.heatmap
        lo, hi = whole.heat_min, whole.heat_max
        heatmap = {
            "x": xname, "y": yname, "xs": plan.axes[xname].tolist(), "ys": plan.axes[yname].tolist(),
            "min": np.where(np.isfinite(lo), lo, np.nan), "max": np.where(np.isfinite(hi), hi, np.nan),
            "oat": plan.jobs[oat].model, "float": plan.jobs[flt].model,
            "oat_condition": plan.jobs[oat].condition, "float_condition": plan.jobs[flt].condition,
            "others": [a for a in plan.axes if a not in (xname, yname)],
        }  # fmt: skip
        if plan.latency != "delay_ns":  # which total the ratio divides (a paper sweep's is delay_ns)
            heatmap["column"] = plan.latency
    counts = {
        "points": plan.size,
        "feasible": whole.feasible,
        "jobs": len(plan.jobs),
        "rows": whole.feasible * len(plan.jobs),
        "front": len(front),
        "model_fronts": {m: len(f) for m, f in model_fronts.items()},
        "chunks": whole.chunks,
    }
    return SweepResult(plan, front, model_fronts, points, aggregates, counts, passing, heatmap, seconds)


def chunks(size: int, chunk: int) -> list[tuple[int, int]]:
    return [(s, min(s + chunk, size)) for s in range(0, size, chunk)]


def run_plan(
    plan: SweepPlan,
    *,
    chunk: int = DEFAULT_CHUNK,
    progress: bool = False,
    engine: str = "local",
    scheduler: str | None = None,
    workers: int = 2,
    processes: bool = True,
) -> SweepResult:
    """Evaluate every chunk of ``plan`` and combine them. ``engine``: "local" (this process, chunk
    after chunk) or "dask" (each chunk a Dask task: on a LocalCluster of ``workers`` processes, or
    threads with ``processes=False``, or on the running scheduler at ``scheduler``). Both map
    :func:`evaluate_chunk` over :func:`chunks` and pass the results, in chunk order, to
    :func:`combine`: the same result either way."""
    if engine not in ENGINES:
        raise HwsimError(f"engine: unknown {engine!r}; available: {', '.join(ENGINES)}")
    if not isinstance(chunk, int) or chunk < 1:
        raise HwsimError(f"--chunk: must be a whole number >= 1 (got {chunk!r})")
    began = time.perf_counter()
    bounds = chunks(plan.size, chunk)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(
            total=plan.size, unit="pt", unit_scale=True, desc="sweep", leave=False, dynamic_ncols=True, disable=None
        )
    folder = Folder(plan)  # bounded memory: chunk fronts are folded as they arrive

    def done(result: ChunkResult) -> None:
        folder.add(result)
        if bar is not None:
            bar.update(result.stop - result.start)

    try:
        if engine == "dask":
            from .dask_engine import map_chunks

            map_chunks(evaluate_chunk, plan, bounds, done, scheduler=scheduler, workers=workers, processes=processes)
        else:
            for start, stop in bounds:
                done(evaluate_chunk(plan, start, stop))
    finally:
        if bar is not None:
            bar.close()
    result = combine(plan, folder.results(), time.perf_counter() - began)
    if result.counts["feasible"] == 0:
        if plan.constraints:
            failing = [text for text, n in result.constraint_passing.items() if n == 0]
            detail = (
                f"no point satisfies {failing[0]!r}"
                if failing
                else "each constraint holds somewhere, but never all at once ("
                + "; ".join(f"{t}: {n:,}" for t, n in result.constraint_passing.items())
                + " points)"
            )
            raise HwsimError(f"sweep: none of the {plan.size:,} design points is feasible: {detail}")
        raise HwsimError("sweep: no design point to evaluate")
    return result


# ---------------------------------------------------------------------------------------------
# planning: the sweep file -> a plan


def _needed_metrics(totals: list[str]) -> list[str]:
    out = []
    for metric in METRICS.values():
        if any(t.name in totals for t in metric.totals):
            out.append(metric.name)
    return out


def _load_model(path: Path, where: str) -> tuple[str, ModelConfig, dict | None]:
    """A model YAML: (name, config, None); an evaluated run directory: (run, config, run info)."""
    if path.is_dir():
        from ..runfiles import RESULTS_JSON, parse_run_config, read_results

        if not (path / RESULTS_JSON).is_file():
            raise HwsimError(
                f"{where}: {path} is a folder without {RESULTS_JSON} (evaluate the run first, 'hwsim evaluate')"
            )
        results = read_results(path)
        config = parse_run_config(results.config, path / RESULTS_JSON).model
        return results.run, config.model_copy(update={"name": results.run}), {"dir": path}
    if not is_file(path):
        raise HwsimError(f"{where}: {clip(str(path), 200)}: no such file or run directory")
    config = load_model_config(path)
    return config.name, config, None


def _run_accuracy(run_dir: Path, config: ModelConfig, sweep: SweepConfig, source: str) -> pd.DataFrame:
    """The run's accuracy points at the sweep's checkpoint and attack, its eval slimming factor and
    lambda_th: one row per lambda."""
    from ..report.join import report_frame

    frame = report_frame([run_dir], attribution=sweep.attribution)
    rows = frame[frame["checkpoint"] == sweep.checkpoint]
    if rows.empty:
        have = ", ".join(sorted(frame["checkpoint"].unique()))
        raise HwsimError(f"{source}: checkpoint: run {run_dir} has no {sweep.checkpoint!r} points (has {have})")
    attack = sweep.attack or sorted(rows["attack"].unique())[0]
    rows = rows[rows["attack"] == attack]
    if rows.empty:
        raise HwsimError(f"{source}: attack: run {run_dir} has no {attack!r} points")
    sf = config.sparsity.eval_slim_factor if config.sparsity is not None and config.sparsity.kind == "slim" else 1.0
    rows = rows[np.isclose(rows["slim_factor"], sf)]
    th = rows["lambda_th"]
    if th.notna().any():
        rows = rows[np.isclose(th.fillna(-1), config.eval.lambda_th)]
    return rows.drop_duplicates("lam").set_index("lam")


def _jobs_of(name, model, run, config, objectives, accuracy_objectives, where, entry, source) -> list[Job]:
    """The jobs of one model (one width of a slimmable one): one per condition, with the run's
    accuracy at that width and its masks (their slice at that width) when it is a pruned run."""
    from ..estimate import layer_table, noise_active
    from ..report.join import condition_config, method_label, run_masks

    jobs = []
    label = method_label(model.method, model.sparsity)
    accuracy_rows = None
    masks = None
    if run is not None:
        accuracy_rows = _run_accuracy(run["dir"], model, config, source)
        sparsity = model.sparsity
        if sparsity is not None and sparsity.masked:
            slim = sparsity.kind == "slim"
            masks = run_masks(run["dir"], sparsity.eval_slim_factor if slim else None)
    elif accuracy_objectives:
        raise HwsimError(
            f"{where}: {entry} is a model file; accuracy objectives ({', '.join(c for c, _ in objectives if accuracy_name(c))}) "
            "need every model to be an evaluated run directory"
        )
    lams = config.conditions if config.conditions is not None else [model.eval.knob]
    accuracy: dict[str, float] = {}
    if accuracy_rows is not None:
        for lam, row in accuracy_rows.sort_index().iterrows():
            accuracy[accuracy_column("clean_acc", lam)] = float(row["clean_acc"])
            accuracy[accuracy_column("robust_acc", lam)] = float(row["robust_acc"])
        for kind, lam in accuracy_objectives:
            if accuracy_column(kind, lam) not in accuracy:
                have = ", ".join(f"{v:g}" for v in accuracy_rows.index)
                raise HwsimError(f"{where}: run {name} has no {kind} at lambda {lam:g} (evaluated at {have})")
    for lam in lams:
        cond = condition_config(model, lam, model.eval.lambda_th)
        try:
            table = layer_table(cond, masks=masks)
        except HwsimError as exc:
            raise HwsimError(f"{where}: {exc}") from None
        here = dict(accuracy)
        if accuracy_rows is not None:
            match = accuracy_rows.index[np.isclose(accuracy_rows.index, lam)]
            here["clean_acc"] = float(accuracy_rows.loc[match[0], "clean_acc"]) if len(match) else math.nan
            here["robust_acc"] = float(accuracy_rows.loc[match[0], "robust_acc"]) if len(match) else math.nan
        jobs.append(Job(name, label, model.method, float(lam), table, noise_active(cond), here))
    return jobs


def plan_sweep(
    sweep: SweepConfig | dict | Path | str,
    *,
    max_points: int | None = None,
    keep_points: bool | None = None,
) -> SweepPlan:
    """Check everything a sweep needs and build its plan (layer tables included). Each problem is
    one :class:`HwsimError` line naming the file and the key."""

    config, folder, source = parse_sweep(sweep)
    base = load_spec(_relative(config.spec, folder))
    inputs = [str(sweep)] if isinstance(sweep, (str, Path)) else []
    inputs += [str(p) for p in filter(None, [spec_file(_relative(config.spec, folder))])]
    axes = {name: axis_values(name, axis, source, base) for name, axis in config.axes.items()}
    for name, values in axes.items():  # the hardware ranges, SpecGrid's own check and message
        try:
            SpecGrid.from_base(base, **{name: values})
        except HwsimError as exc:
            raise HwsimError(f"{source}: axes.{name}: {str(exc).removeprefix('spec grid: ')}") from None
    size = math.prod(len(v) for v in axes.values())
    limit = config.max_points if max_points is None else max_points
    if size > limit:
        raise HwsimError(
            f"{source}: the axes make {size:,} design points, more than the limit {limit:,}; raise it with "
            f"--max-points {size} (or max_points: {size} in the sweep file), or narrow the axes"
        )
    constraints = [parse_constraint(item, i, source, base) for i, item in enumerate(config.constraints)]
    corner = _corner(axes, constraints) if base.hierarchy is not None else None
    if corner:  # the capacities that must hold a weight, an activation and a psum at every point
        try:
            SpecGrid.from_base(base, **corner)
        except HwsimError as exc:
            raise HwsimError(f"{source}: axes: {str(exc).removeprefix('spec grid: ')}") from None

    known_totals = [t.name for t in total_rules()]
    hier_totals = {t.name for m in METRICS.values() if m.requires == "hierarchy" for t in m.totals}
    fields = spec_fields(base)
    default = "objectives" not in config.model_fields_set
    if default:
        objectives = list(DEFAULT_OBJECTIVES[base.cost_model])
    else:
        objectives = [(o.column, o.maximise) for o in config.objectives]
    for i, (column, _) in enumerate(objectives):
        if base.hierarchy is None and (column in hier_totals or column in HIER_FIELDS):
            kind = "total" if column in hier_totals else "field"
            raise no_hierarchy(f"{source}: objectives[{i}]", f"{column} (a hierarchy {kind})", base)
        if column in known_totals or column in fields or column in DERIVED or accuracy_name(column):
            continue
        raise HwsimError(
            f"{source}: objectives[{i}]: unknown {clip(column)!r}; use a total ({', '.join(known_totals)}), "
            f"a spec field, {' / '.join(DERIVED)}, or clean_acc@lam=X / robust_acc@lam=X (runs only)"
        )
    for i, name in enumerate(config.outputs):
        if base.hierarchy is None and name in hier_totals:
            raise no_hierarchy(f"{source}: outputs[{i}]", f"{name} (a hierarchy total)", base)
        if name not in known_totals:
            raise HwsimError(f"{source}: outputs[{i}]: unknown total {clip(name)!r}; known: {', '.join(known_totals)}")
    for column, _ in objectives:  # an objective on a field: the field must be a column (swept)
        if column in fields and column not in axes:
            raise HwsimError(
                f"{source}: objectives: {column} is not swept (add it to axes:), so it is the same at every point"
            )

    latency = LEAD_LATENCY[base.cost_model]  # delay_ns (Eq. 7-9), or hier_latency_ns (cost_model: hierarchy)
    totals = list(dict.fromkeys([*(c for c, _ in objectives if c in known_totals), latency, *config.outputs]))
    accuracy_objectives = [accuracy_name(c) for c, _ in objectives if accuracy_name(c)]

    jobs: list[Job] = []
    names: dict[str, str] = {}
    for i, entry in enumerate(config.models):
        where = f"{source}: models[{i}]"
        path = _relative(entry, folder)
        name, model, run = _load_model(Path(path), where)
        inputs.append(str(path))
        if name in names:
            raise HwsimError(f"{where}: model name {name!r} is also the name of {names[name]}; rename one")
        names[name] = entry

        sparsity = model.sparsity
        slim = sparsity is not None and sparsity.kind == "slim"
        # a slimmable model is one candidate per width: its sub-network's cost and (for a run) accuracy
        widths = list(sparsity.slim_factors) if slim else [None]
        for sf in widths:
            variant = model
            if sf is not None:
                variant = model.model_copy(update={"sparsity": sparsity.model_copy(update={"eval_slim_factor": sf})})
            jobs.extend(
                _jobs_of(
                    f"{name}@SF{sf:g}" if sf is not None else name, variant, run, config, objectives,
                    accuracy_objectives, where, entry, source,
                )
            )  # fmt: skip
    if any(j.accuracy for j in jobs):  # every job carries every accuracy column (NaN where a model has none)
        columns = list(dict.fromkeys(c for j in jobs for c in j.accuracy))
        for j in jobs:
            j.accuracy = {c: j.accuracy.get(c, math.nan) for c in columns}

    rows = size * len(jobs)
    keep = rows <= KEEP_POINTS_ROWS if keep_points is None else keep_points
    heatmap = None
    # the paper's comparison (Fig. 8(c)): the FiLM baseline's delay over the proposed method's
    oat = next((i for i, j in enumerate(jobs) if j.method == method_for_role(FILM)), None)
    flt = next((i for i, j in enumerate(jobs) if j.method == method_for_role(PROPOSED)), None)
    two = [a for a in axes if len(axes[a]) > 1][:2]
    if oat is not None and flt is not None and len(two) == 2:
        heatmap = (oat, flt, two[0], two[1])
    metrics = _needed_metrics(totals)
    if corner is not None and any(METRICS[m].requires == "hierarchy" for m in metrics):
        _check_mappings(base, corner, jobs, config.attribution, source)
    plan = SweepPlan(
        base=base, axes=axes, constraints=constraints, jobs=jobs, metrics=metrics, totals=totals,
        objectives=objectives, attribution=config.attribution, keep_points=keep, heatmap=heatmap, source=source,
        latency=latency, default_objectives=default, inputs=inputs,
    )  # fmt: skip
    return plan


def _corner(axes: dict[str, np.ndarray], constraints: list) -> dict[str, Any] | None:
    """The swept values most demanding of the on-chip capacities (:data:`HIER_GROUP`): the smallest
    capacities with the largest array and bit widths (a larger array unrolls more, so the smallest
    tile grows; wider values take more bits), each axis narrowed by its ``{min/max: {FIELD: V}}``
    constraints. If that corner fits, every point fits. None when it is not known exactly (another
    constraint may exclude the widest ``weight_bits``) or no value passes; {} when no such field is
    swept (the base spec itself is the corner)."""
    if "weight_bits" in axes and any(c.kind not in ("min", "max") for c in constraints):
        return None
    corner = {}
    for name in HIER_GROUP:
        if name not in axes:
            continue
        values = axes[name]
        for c in constraints:
            if c.field == name:
                values = values[values >= c.value] if c.kind == "min" else values[values <= c.value]
        if len(values) == 0:
            return None  # nothing passes: run_plan says which constraint
        corner[name] = values.min() if name.endswith("_capacity_bytes") else values.max()
    return corner


def _check_mappings(base: HardwareSpec, corner: dict[str, Any], jobs: list[Job], attribution: str, source: str) -> None:
    """Every model's layers map onto the hierarchy at the :func:`_corner` point (its smallest tile fits
    the buffer, one kernel with its window the PE store): a sweep that would fail in a later chunk
    is one line now, naming the axes. One mapping per model (conditions and masks keep the shapes)."""
    grid = SpecGrid.from_base(base, **corner)
    first: dict[str, Job] = {}
    for job in jobs:
        first.setdefault(job.model, job)
    for job in first.values():
        try:
            costs(job.table, grid, job.method, attribution=attribution, noise_active=job.noise_active,
                  metrics=["hier_latency_ns"])  # fmt: skip
        except HwsimError as exc:
            at = ", ".join(f"{k}={v}" for k, v in corner.items())
            where = f"axes: at {at} (the axes' tightest corner)" if corner else f"spec: {base.name}"
            raise HwsimError(f"{source}: {where}: {job.model}: {exc}") from None


def _relative(entry: str, folder: Path) -> Path | str:
    """A path in the sweep file, relative to it; a bare built-in spec name stays a name."""
    path = Path(entry)
    if path.is_absolute():
        return path
    candidate = folder / path
    from ..config import builtin_spec_names

    if not candidate.exists() and entry in builtin_spec_names():
        return entry
    return candidate


def sweep(
    config_or_path: SweepConfig | dict | Path | str,
    *,
    keep_points: bool | None = None,
    progress: bool = False,
    max_points: int | None = None,
    chunk: int = DEFAULT_CHUNK,
    engine: str = "local",
    scheduler: str | None = None,
    workers: int = 2,
    processes: bool = True,
) -> SweepResult:
    """Plan and run a sweep (a :class:`SweepConfig`, its dict, or a sweep YAML path).
    ``keep_points``: keep every feasible row (default: when points x jobs <= 2e6). ``engine``,
    ``scheduler``, ``workers``, ``processes``: see :func:`run_plan`."""
    plan = plan_sweep(config_or_path, max_points=max_points, keep_points=keep_points)
    return run_plan(
        plan, chunk=chunk, progress=progress, engine=engine, scheduler=scheduler, workers=workers, processes=processes
    )


__all__ = [
    "DEFAULT_CHUNK", "ChunkResult", "Job", "SweepPlan", "SweepResult", "chunks", "combine", "decode",
    "evaluate_chunk", "nondominated", "pareto_front", "plan_sweep", "run_plan", "sweep",
]  # fmt: skip
