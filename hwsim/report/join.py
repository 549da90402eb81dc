"""The join: every accuracy point of a run with the cost of the *same* model at the *same* condition.

:func:`report_frame` reads the run files (:mod:`hwsim.runfiles`, no torch) and joins each CA / RA
point with params, memory, MACs and Eq. 7-9 delay: FLOAT's delay is Eq. 7 at lambda_n = 0 (clean
weights) and Eq. 8 above it, so the cost is computed per lambda. The cost needs the model's layer
table, which :func:`hwsim.estimate.layer_table` reads from the on-disk cache (no torch) or walks.
:func:`aggregate_seeds` averages runs named ``<base>-seed<N>``; :func:`plotted_rows` and
:func:`boundary_points` pick what the figures draw. Everything here returns data frames; drawing is
:mod:`hwsim.report.plots`, files :mod:`hwsim.report.writer`.
"""

from __future__ import annotations

import functools
import math
import re
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from .. import __version__
from ..config import EvalCondition, HardwareSpec, ModelConfig, load_spec
from ..costs.delay import ATTRIBUTIONS
from ..errors import HwsimError, HwsimWarning
from ..estimate import estimate_model
from ..methods import get_method, list_methods
from ..runfiles import (
    RESULTS_JSON,
    RUN_FILE,
    RunConfig,
    at_chance,
    chance_ceiling,
    finished_epochs,
    parse_run_config,
    read_results,
    read_run_file,
    run_spec_path,
    run_status,
)

MB = 1e6  # decimal megabytes, as in the README and the paper's "21.28 MB"

COLUMNS = [
    "run", "arch", "method", "label", "sparsity", "density", "dataset", "seed", "checkpoint", "slim_factor",
    "eval_slim_factor", "train_lambdas", "lam", "lambda_th", "attack", "clean_acc", "robust_acc", "images", "at_chance",
    "collapsed", "epoch", "params",
    "weight_bytes", "memory_mb", "storage_bytes", "macs", "flops", "delay_ns", "delay_base_ns", "energy_pj", "cr",
    "effective_cr", "crf", "storage_format", "sparse_storage_bytes", "eq7_speedup", "speedup", "cr_analytic",
    "crf_analytic", "mean_epoch_time_s", "spec", "status",
]  # fmt: skip

# What the model's sparsity summary (:class:`hwsim.estimate.SparsitySummary`) buys against the same
# network dense at full width: NaN / None for a dense model (or while the summary is not computed).
SPARSITY_COLUMNS = ["cr", "effective_cr", "crf", "storage_format", "sparse_storage_bytes", "eq7_speedup", "speedup"]

# Cost columns: a function of the model config, the condition, the spec and the run's masks, so equal
# across seeds of a dense model (a sparse run's masks may differ per seed: the aggregate keeps the first).
COST_COLUMNS = [
    "params", "weight_bytes", "memory_mb", "storage_bytes", "macs", "flops", "delay_ns", "delay_base_ns",
    "energy_pj", *SPARSITY_COLUMNS, "cr_analytic", "crf_analytic",
]  # fmt: skip

# Run-describing columns carried into the seed-aggregated frame (equal within a seed group).
MODEL_COLUMNS = ["label", "sparsity", "density", "eval_slim_factor", "train_lambdas"]

# The seed-aggregated frame (:func:`aggregate_seeds`): one row per series x checkpoint x lambda x
# lambda_th x attack, mean and sample standard deviation (ddof = 1) over the seeds that have the point.
SEED_COLUMNS = [
    "run", "arch", "method", *MODEL_COLUMNS, "dataset", "checkpoint", "slim_factor", "lam", "lambda_th", "attack", "seeds", "seed_list",
    "clean_acc_mean", "clean_acc_std", "robust_acc_mean", "robust_acc_std", "collapsed", *COST_COLUMNS,
    "mean_epoch_time_s", "spec",
]  # fmt: skip


# A run named ``<base>-seed<N>`` belongs to the seed group ``<base>``.
SEED_SUFFIX = re.compile(r"-seed\d+$")

# Train settings that may differ between the runs of a seed group, since they do not change the
# results: where the data lives, the device and the number of data-loader workers (plus the seed
# itself). Every other train setting, and every model setting but the free-text name and
# description, must be equal within a group.
SEED_INSENSITIVE_TRAIN = frozenset({"data_dir", "device", "workers"})
SEED_INSENSITIVE_MODEL = frozenset({"name", "description"})

CHECKPOINT_ORDER = {"last": 0, "best": 1}

# Private frame.attrs key: the normalised config of each run (for :func:`aggregate_seeds`); kept
# out of report.json.
_CONFIGS = "run_configs"

# ---------------------------------------------------------------------------------------------
# how a model is named


def _sparsity_field(sparsity: Any, key: str, default: Any = None) -> Any:
    if sparsity is None:
        return default
    if isinstance(sparsity, dict):
        return sparsity.get(key, default)
    return getattr(sparsity, key, default)


def method_label(method: str, sparsity: Any = None) -> str:
    """THE name of a model in the report's tables and figures, from its method and ``sparsity``
    (a :class:`~hwsim.config.SparsityConfig`, its dict, or None): FLOAT, OAT, PGD-AT (the registry's
    labels); FLOATS-i / FLOATS-c for irregular / channel pruning; "<label> slim" for a slimmable
    model (FLOATS slim, FLOAT slim and OAT slim, the paper's Table 1 and Fig. 9). An unregistered
    method keeps its name."""
    base = get_method(method).label if method in list_methods() else method
    kind = _sparsity_field(sparsity, "kind")
    if kind is None:
        return base
    if kind == "slim":
        return f"{base} slim"
    suffix = {"irregular": "i", "channel": "c"}.get(kind, kind)
    return f"{base}-{suffix}"


# ---------------------------------------------------------------------------------------------
# the joined frame


def _summary_columns(summary: Any, estimate: Any = None) -> dict[str, Any]:
    """The :data:`SPARSITY_COLUMNS` of an estimate's sparsity summary. A dense model (no summary) is
    its own reference: CR, CRF and speed-ups 1, its conv weights stored dense (Table 1's FLOAT row);
    NaN / None without an estimate."""
    if summary is None:
        if estimate is None:
            return {c: (None if c == "storage_format" else math.nan) for c in SPARSITY_COLUMNS}
        conv_bits = sum(layer["conv_linear_bits"] for layer in estimate.layers if layer["op"] == "conv")
        ones = dict.fromkeys(("cr", "effective_cr", "crf", "eq7_speedup", "speedup"), 1.0)
        return {**ones, "storage_format": "dense", "sparse_storage_bytes": conv_bits / 8}
    return {
        "cr": float(summary.cr),
        "effective_cr": float(summary.effective_cr),
        "crf": float(summary.crf),
        "storage_format": summary.storage_format,
        "sparse_storage_bytes": summary.storage_bits / 8,
        "eq7_speedup": float(summary.eq7_speedup),
        "speedup": float(summary.speedup),
    }


@functools.lru_cache(maxsize=1024)
def _cost(config: ModelConfig, spec: HardwareSpec, attribution: str, masks: tuple = ()) -> dict[str, Any]:
    """Totals of one (model config with its eval condition, spec, attribution, run masks); cached,
    since a ResNet34 estimate takes tens of milliseconds and a report asks for every lambda of every
    run. ``masks``: the run's per-conv mask summary as sorted (name, items) tuples (hashable)."""
    layers = {name: dict(items) for name, items in masks} or None
    est = estimate_model(config, spec, attribution=attribution, **({"masks": layers} if layers else {}))
    t = est.totals
    return {
        "params": t.params,
        "weight_bytes": t.weight_bytes,
        "memory_mb": t.weight_bytes / MB,
        "storage_bytes": float(getattr(t, "storage_bytes", t.weight_bytes)),
        "macs": t.macs,
        "flops": t.flops,
        "delay_ns": t.delay_ns,
        "delay_base_ns": t.delay_base_ns,
        "energy_pj": float(getattr(t, "energy_pj", math.nan)),  # stand-in totals (tests) may lack it
        **_summary_columns(est.sparsity, est),
    }


def _masks_key(masks: dict[str, dict[str, Any]] | None) -> tuple:
    if not masks:
        return ()
    return tuple(sorted((str(name), tuple(sorted(layer.items()))) for name, layer in masks.items()))


def run_masks(run_dir: Path, slim_factor: float | None = None) -> dict[str, dict[str, Any]] | None:
    """The per-conv mask summary a sparse run recorded with its last epoch (``layers`` of the last
    history entry of ``run.json``: density, in_channels, kept_in_channels; for a slimmable run
    ``layers_by_sf`` at ``slim_factor``), or None (a dense run, or one recorded before hwsim kept
    it). Read without torch."""
    history = read_run_file(run_dir).get("history") or []
    if not isinstance(history, list) or not history or not isinstance(history[-1], dict):
        return None
    if slim_factor is not None:
        by_sf = history[-1].get("layers_by_sf")
        layers = by_sf.get(f"{slim_factor:g}") if isinstance(by_sf, dict) else None
    else:
        layers = history[-1].get("layers")
    if not isinstance(layers, dict) or not layers:
        return None
    if not all(isinstance(v, dict) and isinstance(v.get("density"), (int, float)) for v in layers.values()):
        raise HwsimError(f"{run_dir / RUN_FILE}: history[-1].layers: expected per-conv records with a numeric density")
    return layers


def slim_config(config: ModelConfig, slim_factor: float) -> ModelConfig:
    """``config`` at slimming factor ``slim_factor`` (a slimmable model; others are returned as they are)."""
    sparsity = config.sparsity
    if sparsity is None or sparsity.kind != "slim" or sparsity.eval_slim_factor == slim_factor:
        return config
    return config.model_copy(update={"sparsity": sparsity.model_copy(update={"eval_slim_factor": slim_factor})})


def condition_config(config: ModelConfig, lam: float, lambda_th: float | None) -> ModelConfig:
    """``config`` evaluated at ``lam`` by its method's rule (FLOAT reads it as lambda_n, Eq. 6; a
    method without lambda_n has no threshold, None)."""
    cond = EvalCondition.model_validate(config.rule.eval_condition(lam, 0.0 if lambda_th is None else lambda_th))
    return config.model_copy(update={"eval": cond})


def cost_at(
    config: ModelConfig,
    lam: float,
    lambda_th: float,
    spec: HardwareSpec,
    attribution: str = "paper",
    *,
    slim_factor: float = 1.0,
    masks: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Cost totals of ``config`` at one condition (params, weight_bytes, memory_mb, storage_bytes,
    macs, flops, delays, and the sparsity summary's :data:`SPARSITY_COLUMNS`); a slimmable model at
    ``slim_factor``, a trained sparse model with its ``masks`` (:func:`run_masks`)."""
    config = slim_config(condition_config(config, lam, lambda_th), slim_factor)
    return dict(_cost(config, spec, attribution, _masks_key(masks)))


def _analytic_ratios(config: ModelConfig, point, spec: HardwareSpec, attribution: str, pruned: bool) -> dict:
    """``cr_analytic`` / ``crf_analytic``: the CR and CRF of a pruned model at its analytic densities
    (every conv at its d_l), beside the trained masks' ``cr`` / ``crf``; NaN for a model that is not pruned."""
    if not pruned:
        return {"cr_analytic": math.nan, "crf_analytic": math.nan}
    cost = cost_at(config, point.lam, point.lambda_th, spec, attribution, slim_factor=point.slim_factor)
    return {"cr_analytic": cost["cr"], "crf_analytic": cost["crf"]}


def _status_text(run_dir: Path, status: str) -> str:
    """A run that is not done, in words: its accuracy is that of an unfinished training."""
    data = read_run_file(run_dir)
    done = finished_epochs(data)
    if status == "interrupted":
        return f"training was interrupted after epoch {done} (run.json says running, its process is gone); resume with 'hwsim train ... --resume'"
    if status == "failed":
        return f"training failed after epoch {done}: {data.get('reason', 'no reason recorded')}"
    return f"status {status!r} after epoch {done}"


def _mean_epoch_time(run_dir: Path) -> float:
    history = read_run_file(run_dir).get("history") or []
    if not isinstance(history, list):
        raise HwsimError(f"{run_dir / RUN_FILE}: history: expected a list of epochs")
    try:
        times = [float(h["epoch_time_s"]) for h in history]
    except (KeyError, TypeError, ValueError):
        raise HwsimError(f"{run_dir / RUN_FILE}: history entries need a numeric epoch_time_s") from None
    return sum(times) / len(times) if times else math.nan


def _resolved(run_dir: Path) -> Path:
    """The real path of a run directory; a symlink loop is one line naming it."""
    try:
        return run_dir.resolve()
    except (RuntimeError, OSError):  # Python < 3.13 raises RuntimeError for a loop, later OSError
        raise HwsimError(f"{run_dir}: not a run directory (a symlink loop)") from None


def _warn_collapsed(run: str, run_config: RunConfig, collapsed_at: dict[str, list[str]]) -> None:
    """One warning per run at chance at a lambda it trained: its last weights (the training
    collapsed), or only a best checkpoint (the selection rule kept an untrained epoch)."""
    parts = []
    if collapsed_at["last"]:
        parts.append(f"its last weights at {', '.join(dict.fromkeys(collapsed_at['last']))}: the training collapsed")
    if collapsed_at["best"]:
        rule = run_config.train.select
        parts.append(
            f"its best checkpoint at {', '.join(dict.fromkeys(collapsed_at['best']))}: an untrained epoch kept by "
            f"select: {rule}"
            + (" (retrain with --select weighted, or evaluate --checkpoint last)" if rule == "ra" else "")
        )
    if parts:
        ceiling = chance_ceiling(run_config.model.classes, 300)
        warnings.warn(
            f"run {run}: at chance (CA <= 100/K + 3 sd of a guess; {ceiling:.1f}% for {run_config.model.classes} "
            f"classes on 300 images) at a lambda it was trained on: {'; '.join(parts)}. Its rows say collapsed = True "
            "and the figures cross them out",
            HwsimWarning,
            stacklevel=3,
        )


def report_frame(run_dirs: list[Path], spec: HardwareSpec | None = None, attribution: str = "paper") -> pd.DataFrame:
    """One row per run x checkpoint x lambda x lambda_th x attack: CA / RA joined with the cost at
    that condition.

    The model config is the one the evaluation recorded in ``results.json`` (the model the accuracy
    belongs to); ``seed`` is its training seed. ``checkpoint`` says which weights were evaluated
    (``last``: the last epoch's; ``best``: the per-lambda best checkpoint, ``select`` rule) and ``epoch`` their
    training epoch (the results' epoch for points recorded without one). ``mean_epoch_time_s`` is
    the mean training epoch time from ``run.json`` (the paper's Fig. 8(a) quantity; NaN before the
    first epoch). A run without ``results.json`` raises :class:`HwsimError` naming its directory.

    ``spec``, when given, costs every run; otherwise each run is costed on the spec its model names
    (:func:`run_spec_path`), else on the shipped 65 nm ASIC. The ``spec`` column says which; the
    frame's ``spec`` / ``weight_bits`` attributes list the distinct ones (joined with ", " / "/").

    ``at_chance`` says the point's CA is no better than guessing (:func:`~hwsim.runfiles.at_chance`),
    ``collapsed`` that it is so at a lambda the method trained (:meth:`~hwsim.methods.Method.trained_lambdas`):
    each collapsed run is one :class:`HwsimWarning`, and the figures mark its points.
    """
    if attribution not in ATTRIBUTIONS:
        raise HwsimError(f"unknown attribution {attribution!r}; use one of {', '.join(ATTRIBUTIONS)}")
    if not run_dirs:
        raise HwsimError("no run directories to report on")
    loaded: dict[Path | None, HardwareSpec] = {}
    rows: list[dict[str, Any]] = []
    seen: dict[str, Path] = {}
    configs: dict[str, dict] = {}
    used: list[HardwareSpec] = []
    for run_dir in dict.fromkeys(_resolved(Path(d)) for d in run_dirs):  # same dir twice counts once
        results = read_results(run_dir)
        if results.run in seen:
            raise HwsimError(f"{run_dir}: run name {results.run!r} is also the name of {seen[results.run]}; rename one")
        seen[results.run] = run_dir
        run_config: RunConfig = parse_run_config(results.config, run_dir / RESULTS_JSON)
        config = run_config.model
        if spec is not None:
            run_spec = spec
        else:
            path = run_spec_path(results.run, run_dir, config)
            key = path.resolve() if isinstance(path, Path) else path  # a file, a built-in's name, or None
            if key not in loaded:
                loaded[key] = load_spec(path)
            run_spec = loaded[key]
        used.append(run_spec)
        configs[results.run] = {
            **run_config.model_dump(mode="json", by_alias=True, include={"model", "train"}),
            "eval": {"eps": results.eps},  # the attack budget of every RA in the results
        }
        epoch_time = _mean_epoch_time(run_dir)
        method = get_method(config.method)
        sampled = method.train_lambdas(run_config.train)
        train_lambdas = ",".join(f"{v:g}" for v in sampled) if sampled is not None else None
        trained = method.trained_lambdas(run_config.train)
        status = run_status(read_run_file(run_dir))
        if status != "done":
            warnings.warn(f"run {results.run} ({run_dir}): {_status_text(run_dir, status)}", HwsimWarning, stacklevel=2)
        sparsity = config.sparsity
        slim = sparsity is not None and sparsity.kind == "slim"
        # a pruned run is costed with its masks (a slimmable one with their slice at each SF)
        pruned = sparsity is not None and sparsity.masked
        masks = (
            {sf: run_masks(run_dir, sf if slim else None) for sf in {p.slim_factor for p in results.points}}
            if pruned
            else {}
        )
        order = lambda p: (
            CHECKPOINT_ORDER.get(p.checkpoint, 2),
            p.checkpoint,
            p.attack,
            -p.slim_factor,
            p.lambda_th or 0.0,
            p.lam,
        )  # noqa: E731
        collapsed_at: dict[str, list[str]] = {"last": [], "best": []}
        for p in sorted(results.points, key=order):
            chance = at_chance(p.clean_acc, config.classes, p.images)
            collapsed = chance and any(math.isclose(p.lam, t, abs_tol=1e-9) for t in trained)
            if collapsed:
                where = f"lambda {p.lam:g}" + (f" (epoch {p.epoch})" if p.checkpoint == "best" and p.epoch else "")
                collapsed_at["best" if p.checkpoint == "best" else "last"].append(where)
            rows.append(
                {
                    "run": results.run,
                    "arch": config.arch,
                    "method": config.method,
                    "label": method_label(config.method, sparsity),
                    "sparsity": sparsity.kind if sparsity is not None else None,
                    "density": sparsity.density if sparsity is not None else math.nan,
                    "dataset": config.dataset,
                    "seed": run_config.train.seed,
                    "checkpoint": p.checkpoint,
                    "slim_factor": p.slim_factor,
                    "eval_slim_factor": sparsity.eval_slim_factor if slim else 1.0,
                    "train_lambdas": train_lambdas,
                    "lam": p.lam,
                    "lambda_th": math.nan if p.lambda_th is None else p.lambda_th,
                    # a point attacked as FLOAT_v2's validation is its own series ("pgd7@float_v2")
                    "attack": p.attack if p.attack_condition == "evaluated" else f"{p.attack}@{p.attack_condition}",
                    "clean_acc": p.clean_acc,
                    "robust_acc": p.robust_acc,
                    "images": p.images,
                    "at_chance": chance,
                    "collapsed": collapsed,
                    "epoch": p.epoch if p.epoch is not None else results.epoch,
                    **cost_at(
                        config,
                        p.lam,
                        p.lambda_th,
                        run_spec,
                        attribution,
                        slim_factor=p.slim_factor,
                        masks=masks.get(p.slim_factor),
                    ),
                    # a pruned run's CR / CRF if every conv kept exactly the model's densities (no masks)
                    **_analytic_ratios(config, p, run_spec, attribution, pruned),
                    "mean_epoch_time_s": epoch_time,
                    "spec": run_spec.name,
                    "status": status,
                }
            )
        _warn_collapsed(results.run, run_config, collapsed_at)
    frame = pd.DataFrame(rows, columns=COLUMNS)
    names = list(dict.fromkeys(s.name for s in used))
    bits = list(dict.fromkeys(s.weight_bits for s in used))
    frame.attrs.update(
        {
            "hwsim_version": __version__,
            "spec": ", ".join(names),
            "attribution": attribution,
            "weight_bits": bits[0] if len(bits) == 1 else "/".join(map(str, bits)),
        }
    )
    frame.attrs[_CONFIGS] = configs
    return frame


# ---------------------------------------------------------------------------------------------
# seed aggregation


def seed_base(run: str) -> str:
    """The series a run belongs to: its name without a trailing ``-seed<N>``."""
    return SEED_SUFFIX.sub("", run)


def seed_groups(runs) -> dict[str, list[str]]:
    """Runs grouped by :func:`seed_base`, in order of first appearance."""
    groups: dict[str, list[str]] = {}
    for run in dict.fromkeys(runs):
        groups.setdefault(seed_base(run), []).append(run)
    return groups


def _flatten(value: Any, prefix: str) -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}"))
        return out
    return {prefix: value}


def _comparable(config: dict) -> dict[str, Any]:
    """The settings that must agree within a seed group, flattened to ``section.key`` names."""
    model = {k: v for k, v in (config.get("model") or {}).items() if k not in SEED_INSENSITIVE_MODEL}
    train = {k: v for k, v in (config.get("train") or {}).items() if k != "seed" and k not in SEED_INSENSITIVE_TRAIN}
    return {**_flatten(model, "model"), **_flatten(train, "train"), **_flatten(config.get("eval") or {}, "eval")}


_MISSING = object()


def _setting_text(value: Any) -> str:
    if value is _MISSING:
        return "unset"
    return repr(value) if isinstance(value, str) else str(value)


def check_seed_group(base: str, runs: list[str], configs: dict[str, dict]) -> None:
    """Raise :class:`HwsimError` (one line) unless the ``runs`` of a seed group differ only in the
    seed, the name and the :data:`SEED_INSENSITIVE_TRAIN` settings, and have distinct seeds."""
    names = ", ".join(runs)
    missing = [r for r in runs if r not in configs]
    if missing:
        raise HwsimError(
            f"runs {names}: no run config for {', '.join(missing)}; build the frame with report_frame to aggregate seeds"
        )
    flat = [_comparable(configs[r]) for r in runs]
    keys = list(dict.fromkeys(k for f in flat for k in f))
    differing = []
    for key in keys:
        values = [f.get(key, _MISSING) for f in flat]
        if any(v != values[0] or (v is _MISSING) != (values[0] is _MISSING) for v in values[1:]):
            differing.append(f"{key} ({' vs '.join(_setting_text(v) for v in values)})")
    if differing:
        raise HwsimError(
            f"runs {names} differ in more than the seed: {', '.join(differing)}; aggregate only runs that differ in seed"
        )
    seeds = [(configs[r].get("train") or {}).get("seed") for r in runs]
    repeated = sorted({s for s in seeds if seeds.count(s) > 1}, key=str)
    if repeated:
        twice = ", ".join(r for r, s in zip(runs, seeds) if s in repeated)
        raise HwsimError(
            f"runs {twice} of series {base!r} have the same seed ({', '.join(map(str, repeated))}); each seed may appear once"
        )


def _model_default(column: str, row: pd.Series) -> Any:
    """A :data:`MODEL_COLUMNS` value for a frame built without it (a hand-made or older frame)."""
    if column == "label":
        return method_label(row["method"])
    return {"sparsity": None, "density": math.nan, "eval_slim_factor": 1.0, "train_lambdas": None}[column]


def aggregate_seeds(frame: pd.DataFrame) -> pd.DataFrame:
    """Runs named ``<base>-seed<N>`` aggregated into one series ``<base>`` (:data:`SEED_COLUMNS`).

    Per (series, checkpoint, lambda, lambda_th, attack): the mean and sample standard deviation
    (ddof = 1) of CA and RA over the runs that have the point, their count (``seeds``) and training
    seeds (``seed_list``, e.g. ``"0,1,2"``), how many of them collapsed there (``collapsed``); the cost columns (equal within a series) and the mean
    of the runs' ``mean_epoch_time_s``. A run alone in its group keeps its name, with ``seeds`` = 1
    and NaN standard deviations. The runs of a group must differ only in the seed (see
    :func:`check_seed_group`, which reads the run configs :func:`report_frame` keeps in
    ``frame.attrs``); otherwise :class:`HwsimError` names the group and the differing settings.
    """
    configs = frame.attrs.get(_CONFIGS) or {}
    groups = seed_groups(frame["run"])
    series: dict[str, str] = {}
    for base, runs in groups.items():
        if len(runs) > 1:
            check_seed_group(base, runs, configs)
            series.update(dict.fromkeys(runs, base))
        else:
            series[runs[0]] = runs[0]
    data = frame.assign(run=frame["run"].map(series), _run=frame["run"])
    if "checkpoint" not in data:
        data["checkpoint"] = "last"
    epoch_time = data.drop_duplicates("_run").groupby("run", sort=False)["mean_epoch_time_s"].mean()
    if "slim_factor" not in data:
        data["slim_factor"] = 1.0
    keys = ["run", "checkpoint", "slim_factor", "lam", "lambda_th", "attack"]
    rows = []
    for key, part in data.groupby(keys, sort=False, dropna=False):
        first = part.iloc[0]
        seeds = sorted(part["seed"].dropna().astype(int)) if "seed" in part else []
        rows.append(
            {
                **dict(zip(keys, key)),
                "arch": first["arch"],
                "method": first["method"],
                **{c: first.get(c, _model_default(c, first)) for c in MODEL_COLUMNS},
                "dataset": first["dataset"],
                "seeds": len(part),
                "seed_list": ",".join(map(str, seeds)),
                "clean_acc_mean": float(part["clean_acc"].mean()),
                "clean_acc_std": float(part["clean_acc"].std(ddof=1)) if len(part) > 1 else math.nan,
                "robust_acc_mean": float(part["robust_acc"].mean()),
                "robust_acc_std": float(part["robust_acc"].std(ddof=1)) if len(part) > 1 else math.nan,
                # how many of the seeds collapsed at this point (their accuracies are in the mean)
                "collapsed": int(part["collapsed"].fillna(False).astype(bool).sum()) if "collapsed" in part else 0,
                **{c: first.get(c, math.nan) for c in COST_COLUMNS},
                "mean_epoch_time_s": float(epoch_time[key[0]]),
                "spec": first["spec"],
            }
        )
    out = pd.DataFrame(rows, columns=SEED_COLUMNS)
    # series in order of first appearance; within one, the per-run frame's order
    position = {name: i for i, name in enumerate(dict.fromkeys(out["run"]))}
    order = sorted(
        range(len(out)),
        key=lambda i: (
            position[out.at[i, "run"]], CHECKPOINT_ORDER.get(out.at[i, "checkpoint"], 2), str(out.at[i, "checkpoint"]),
            out.at[i, "attack"], -out.at[i, "slim_factor"], out.at[i, "lambda_th"], out.at[i, "lam"],
        ),
    )  # fmt: skip
    out = out.iloc[order].reset_index(drop=True)
    out.attrs = {k: v for k, v in frame.attrs.items() if k != _CONFIGS}
    return out


# ---------------------------------------------------------------------------------------------
# what the figures draw


def _attack_rows(frame: pd.DataFrame, attack: str) -> pd.DataFrame:
    rows = frame[frame["attack"] == attack]
    if rows.empty:
        present = ", ".join(sorted(frame["attack"].unique())) or "none"
        raise HwsimError(f"no results for attack {attack!r} in the report (present: {present})")
    return rows


def _accuracy_columns(frame: pd.DataFrame) -> tuple[str, str, str | None, str | None]:
    """(CA, RA, CA std, RA std) column names: the per-run frame's, or the seed-aggregated frame's."""
    if "clean_acc_mean" in frame.columns:
        return "clean_acc_mean", "robust_acc_mean", "clean_acc_std", "robust_acc_std"
    return "clean_acc", "robust_acc", None, None


def plotted_rows(frame: pd.DataFrame, attack: str, prefer: str = "best") -> tuple[pd.DataFrame, str]:
    """The rows of ``attack`` that the trade-off and memory plots draw, and a note for the title.

    A run evaluated at both checkpoints is drawn at the ``prefer`` one: by default ``best`` (the
    per-lambda best-RA weights, OAT.py's rule), or ``last`` (the last epoch's weights: whole trained
    models, as Fig. 3 / 4 compare them); a run with only the other at that one. The note says which
    was drawn (empty when every run is drawn at ``last``)."""
    if prefer not in ("best", "last"):
        raise ValueError(f"prefer: 'best' or 'last', not {prefer!r}")
    other = "last" if prefer == "best" else "best"
    rows = _attack_rows(frame, attack)
    if "checkpoint" not in rows.columns:
        return rows, ""
    has_prefer = rows["checkpoint"].eq(prefer).groupby(rows["run"], sort=False).transform("any")
    chosen = rows[rows["checkpoint"] == has_prefer.map({True: prefer, False: other})]
    if chosen.empty:  # only checkpoints other than last / best: draw what there is
        return rows, ""
    kinds = set(chosen["checkpoint"])
    if kinds == {"best"}:
        return chosen, "(best checkpoint per $\\lambda$)"
    if "best" in kinds:
        where = "where evaluated, else last" if prefer == "best" else "where no last was evaluated"
        return chosen, f"(best checkpoint per $\\lambda$ {where})"
    return chosen, ""


def boundary_points(frame: pd.DataFrame, attack: str) -> pd.DataFrame:
    """Per run: CA at lambda = 0 and RA at lambda = 1 (the boundary conditions of OAT / FLOAT), or
    PGD-AT's single point, with the memory normalised to the largest run's. The lowest lambda_th is
    used; when lambda = 0 or 1 was not evaluated, the nearest evaluated lambda stands in (its value
    is in ``ca_lam`` / ``ra_lam``). The checkpoint is the one :func:`plotted_rows` picks. On the
    seed-aggregated frame CA / RA are the means, ``clean_acc_std`` / ``robust_acc_std`` their
    standard deviations and ``seeds`` the fewer seeds of the two points (NaN and 1 for single runs)."""
    rows, _ = plotted_rows(frame, attack)
    rows = at_eval_slim_factor(rows)
    ca, ra, ca_std, ra_std = _accuracy_columns(rows)
    out = []
    for run in dict.fromkeys(rows["run"]):
        mine = rows[rows["run"] == run]
        th = mine["lambda_th"]
        mine = mine[th.isna() | (th == th.min())].sort_values("lam")  # NaN: a method without lambda_th
        clean, robust = mine.iloc[0], mine.iloc[-1]  # lowest / highest lambda (equal for PGD-AT)
        out.append(
            {
                "run": run,
                "method": clean["method"],
                "label": clean["label"] if "label" in rows.columns else method_label(clean["method"]),
                "arch": clean["arch"],
                "weight_bytes": float(clean["weight_bytes"]),
                "storage_bytes": float(
                    clean["storage_bytes"] if "storage_bytes" in rows.columns else clean["weight_bytes"]
                ),
                "ca_lam": float(clean["lam"]),
                "clean_acc": float(clean[ca]),
                "ra_lam": float(robust["lam"]),
                "robust_acc": float(robust[ra]),
                "clean_acc_std": float(clean[ca_std]) if ca_std else math.nan,
                "robust_acc_std": float(robust[ra_std]) if ra_std else math.nan,
                "seeds": int(min(clean["seeds"], robust["seeds"])) if "seeds" in rows.columns else 1,
            }
        )
    points = pd.DataFrame(out)
    points.insert(5, "memory_norm", points["storage_bytes"] / points["storage_bytes"].max())
    return points


def at_eval_slim_factor(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of each slimmable run at its ``eval_slim_factor`` (the SF its model file reports,
    e.g. the paper's SF 0.5 of Table 1); every row of the other runs."""
    if "slim_factor" not in rows.columns or "eval_slim_factor" not in rows.columns:
        return rows
    return rows[(rows["slim_factor"] - rows["eval_slim_factor"]).abs() < 1e-9]


__all__ = [
    "COLUMNS", "SEED_COLUMNS", "COST_COLUMNS", "SEED_INSENSITIVE_TRAIN", "SEED_INSENSITIVE_MODEL", "report_frame",
    "run_spec_path", "cost_at", "condition_config", "seed_base", "seed_groups", "check_seed_group", "aggregate_seeds",
    "plotted_rows", "boundary_points", "at_eval_slim_factor", "method_label", "run_masks", "slim_config",
    "SPARSITY_COLUMNS", "MODEL_COLUMNS", "PAPER_TABLE1", "TABLE1_COLUMNS", "TABLE1_NOTE", "table1_frame", "is_sparse",
]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# the paper's Table 1 view

#: The paper's Table 1 (ResNet34 on CIFAR-10, PGD-7): CA / RA at lambda 0 and 1, CR and CRF, per
#: variant with the density d (and, for FLOATS slim, the SF) it was reported at. Shown beside a run
#: only when its arch, data set, variant, density and SF match; never in place of hwsim's values.
PAPER_TABLE1 = [
    {"label": "FLOAT", "density": None, "sf": 1.0, "ca_lam0": 94.83, "ra_lam0": 22.52, "ca_lam1": 89.1, "ra_lam1": 56.71, "cr": 1.0, "crf": 1.0},
    {"label": "FLOATS-i", "density": 0.1, "sf": 1.0, "ca_lam0": 94.12, "ra_lam0": 18.7, "ca_lam1": 88.6, "ra_lam1": 55.92, "cr": 10.0, "crf": 1.0},
    {"label": "FLOATS-c", "density": 0.34, "sf": 1.0, "ca_lam0": 93.84, "ra_lam0": 17.2, "ca_lam1": 86.87, "ra_lam1": 53.2, "cr": 2.94, "crf": 1.54},
    {"label": "FLOATS slim", "density": 0.3, "sf": 0.5, "ca_lam0": 94.26, "ra_lam0": 19.1, "ca_lam1": 88.9, "ra_lam1": 55.44, "cr": 4.76, "crf": 2.0},
]  # fmt: skip
PAPER_TABLE1_SETTING = {"arch": "resnet34", "dataset": "cifar10", "attack": "pgd7"}

_ACC = ["ca_lam0", "ra_lam0", "ca_lam1", "ra_lam1"]
TABLE1_COLUMNS = [
    "run", "method", "arch", "dataset", "density", "sf", "seeds", "checkpoint", "attack", "lambda_th", *_ACC,
    "cr", "cr_analytic", "effective_cr", "crf", "crf_analytic", "storage_bytes", "storage_format", "eq7_speedup",
    *(f"paper_{c}" for c in _ACC), "paper_cr", "paper_crf",
]  # fmt: skip

TABLE1_NOTE = (
    "Table 1 view: CA / RA at lambda = 0 and 1 (FLOAT: lambda_n at lambda_th = 0; slimmable models at "
    "their eval SF); n/a where that point was not evaluated or the cost summary is not available. CR is "
    "dense conv weights / kept conv weights (cr: the run's trained masks; cr_analytic, crf_analytic: every "
    "conv at the model's density, no masks); effective CR divides the dense conv weight bits by the bits "
    "stored in the spec's sparse format (index overhead included); CRF is the conv input channels of the "
    "dense full-width network over those present; storage is in the spec's sparse format; Eq. 7 speed-up "
    "is against the same network dense at full width (dense FLOAT). paper_* columns: the paper's Table 1 "
    "(ResNet34, CIFAR-10, PGD-7), shown only for a run of the same arch, data set, variant, density and SF. "
    "The paper's CR 4.76 for FLOATS slim (SF 0.5, d = 0.3) is neither 1/0.3 = 3.33 nor 1/(0.25 x 0.3) = 13.3."
)


def is_sparse(frame: pd.DataFrame) -> bool:
    """Whether any run of ``frame`` is sparse or slimmable (it has a ``sparsity`` kind)."""
    return "sparsity" in frame.columns and bool(frame["sparsity"].notna().any())


def _paper_row(first: pd.Series, label: str, sf: float, attack: str) -> dict[str, Any] | None:
    setting = PAPER_TABLE1_SETTING
    if first["arch"] != setting["arch"] or first["dataset"] != setting["dataset"] or attack != setting["attack"]:
        return None
    density = first.get("density", math.nan)
    for paper in PAPER_TABLE1:
        if paper["label"] != label or not math.isclose(paper["sf"], sf, abs_tol=1e-9):
            continue
        if paper["density"] is None:
            if density is None or not math.isfinite(density):
                return paper
        elif density is not None and math.isfinite(density) and math.isclose(paper["density"], density, abs_tol=1e-9):
            return paper
    return None


def _at_lambda(mine: pd.DataFrame, lam: float, column: str) -> float:
    hit = mine[(mine["lam"] - lam).abs() < 1e-9]
    return float(hit.iloc[0][column]) if not hit.empty else math.nan


def table1_frame(frame: pd.DataFrame, attack: str | None = None) -> pd.DataFrame:
    """The paper's Table 1 view (:data:`TABLE1_COLUMNS`): one row per run (per series on the
    seed-aggregated frame, CA / RA the means over its seeds): its variant (:func:`method_label`),
    density and SF (a slimmable model's ``eval_slim_factor``), CA and RA at lambda = 0 and 1 (FLOAT:
    lambda_n at lambda_th = 0, else its lowest lambda_th; NaN where not evaluated), the sparsity
    summary's CR, effective CR, CRF, storage (bytes, format) and Eq. 7 speed-up (NaN without a
    summary), and the paper's values where :data:`PAPER_TABLE1` has the same model (see
    :data:`TABLE1_NOTE`). ``attack``: default PGD-7 when evaluated, else the first attack. The
    checkpoint is the one :func:`plotted_rows` picks."""
    if attack is None:
        attacks = list(dict.fromkeys(frame["attack"]))
        attack = "pgd7" if "pgd7" in attacks else attacks[0]
    rows, _ = plotted_rows(frame, attack)
    rows = at_eval_slim_factor(rows)
    ca, ra, _, _ = _accuracy_columns(rows)
    out = []
    for run in dict.fromkeys(rows["run"]):
        mine = rows[rows["run"] == run]
        th = mine["lambda_th"]
        if th.notna().any():
            chosen = 0.0 if (th == 0).any() else float(th.min())
            mine = mine[th.isna() | (th == chosen)]
        else:
            chosen = math.nan
        first = mine.iloc[0]
        clean = mine[(mine["lam"]).abs() < 1e-9]
        cost = clean.iloc[0] if not clean.empty else first
        sf = float(first.get("eval_slim_factor", 1.0))
        label = first["label"] if "label" in mine.columns else method_label(first["method"])
        paper = _paper_row(first, label, sf, attack)
        row = {
            "run": run,
            "method": label,
            "arch": first["arch"],
            "dataset": first["dataset"],
            "density": float(first.get("density", math.nan)),
            "sf": sf,
            "seeds": int(mine["seeds"].min()) if "seeds" in mine.columns else 1,
            "checkpoint": first.get("checkpoint", "last"),
            "attack": attack,
            "lambda_th": chosen,
            "ca_lam0": _at_lambda(mine, 0.0, ca),
            "ra_lam0": _at_lambda(mine, 0.0, ra),
            "ca_lam1": _at_lambda(mine, 1.0, ca),
            "ra_lam1": _at_lambda(mine, 1.0, ra),
            "cr": float(cost.get("cr", math.nan)),
            "effective_cr": float(cost.get("effective_cr", math.nan)),
            "crf": float(cost.get("crf", math.nan)),
            "cr_analytic": float(cost.get("cr_analytic", math.nan)),
            "crf_analytic": float(cost.get("crf_analytic", math.nan)),
            "storage_bytes": float(cost.get("sparse_storage_bytes", math.nan)),
            "storage_format": cost.get("storage_format"),
            "eq7_speedup": float(cost.get("eq7_speedup", math.nan)),
        }
        for c in [*_ACC, "cr", "crf"]:
            row[f"paper_{c}"] = paper[c] if paper is not None else math.nan
        out.append(row)
    table = pd.DataFrame(out, columns=TABLE1_COLUMNS)
    table.attrs = {k: v for k, v in frame.attrs.items() if k != _CONFIGS}
    table.attrs["note"] = TABLE1_NOTE
    return table
