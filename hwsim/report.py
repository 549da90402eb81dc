"""Accuracy joined with hardware cost: the report of trained and evaluated runs, and the paper's plots.

A run directory (``reports/runs/<name>/``) holds ``run.json`` (config and per-epoch history, written by
:func:`hwsim.runner.train.train_run`) and ``results.json`` (CA and RA per lambda, lambda_th and attack,
written by :func:`hwsim.runner.evaluate.evaluate_checkpoint`). :func:`report_frame` joins every
accuracy point with the cost of the *same* model at the *same* condition: FLOAT's delay is Eq. 7 at
lambda_n = 0 (clean weights) and Eq. 8 above it, so the cost is computed per lambda. A run may be
evaluated at its last epoch's weights and at the per-lambda best-RA checkpoint: the ``checkpoint``
column (``last`` / ``best``) keeps them apart and ``epoch`` is the epoch of the evaluated weights.

Seeds: runs named ``<base>-seed<N>`` that differ only in the seed form one series ``<base>``;
:func:`aggregate_seeds` gives the mean and sample standard deviation of CA and RA per point over
its seeds (the paper averages three), and :func:`write_report` then also writes
``report-seeds.csv`` / ``.json`` and draws the plots from the series, with error bars.

>>> from hwsim.report import report_frame, write_report
>>> frame = report_frame([Path("reports/runs/r20-float"), Path("reports/runs/r20-oat")])
>>> text, paths = write_report([...], Path("reports/compare"), fmt="markdown")

Plots (PNG at 200 dpi and PDF, tight bounding box, written atomically):

* :func:`plot_tradeoff`: the paper's Fig. 6 / 7, CA (x) against RA (y) across lambda, one curve per run,
  each point labelled with its lambda;
* :func:`plot_memory_accuracy`: the paper's Fig. 1, memory normalised to the largest compared model (x)
  against accuracy (y), CA and RA as separate marker styles, one pair per run at its boundary
  conditions (CA at lambda = 0, RA at lambda = 1; PGD-AT's single point).

Both draw the ``best`` checkpoint of a run evaluated at both (the title says so), else ``last``.

The figures are drawn on :class:`matplotlib.figure.Figure` objects rendered by the Agg (PNG) and PDF
backends directly, without pyplot: nothing global is switched, so a notebook keeps its own backend.
"""

from __future__ import annotations

import functools
import io
import math
import re
from pathlib import Path
from typing import Any

import pandas as pd

from . import __version__
from .config import EvalCondition, HardwareSpec, ModelConfig, load_spec
from .costs.delay import ATTRIBUTIONS
from .errors import HwsimError
from .estimate import estimate_model
from .formats import OutputFormat, render_frame
from .io import atomic_write_bytes, atomic_write_text

REPORT_CSV = "report.csv"
REPORT_JSON = "report.json"
MB = 1e6  # decimal megabytes, as in the README and the paper's "21.28 MB"

REPORT_SEEDS_CSV = "report-seeds.csv"
REPORT_SEEDS_JSON = "report-seeds.json"

COLUMNS = [
    "run", "arch", "method", "dataset", "seed", "checkpoint", "lam", "lambda_th", "attack", "clean_acc",
    "robust_acc", "images", "epoch", "params", "weight_bytes", "memory_mb", "macs", "flops", "delay_ns",
    "delay_base_ns", "mean_epoch_time_s", "spec",
]  # fmt: skip

# Columns of the terminal table and Markdown views (CSV and JSON carry every column).
REPORT_VIEW = [
    "run", "method", "arch", "checkpoint", "lam", "lambda_th", "attack", "clean_acc", "robust_acc", "params",
    "memory_mb", "macs", "delay_ns", "delay_base_ns", "mean_epoch_time_s",
]  # fmt: skip

# Cost columns: a function of the model config, the condition and the spec, so equal across seeds.
COST_COLUMNS = ["params", "weight_bytes", "memory_mb", "macs", "flops", "delay_ns", "delay_base_ns"]

# The seed-aggregated frame (:func:`aggregate_seeds`): one row per series x checkpoint x lambda x
# lambda_th x attack, mean and sample standard deviation (ddof = 1) over the seeds that have the point.
SEED_COLUMNS = [
    "run", "arch", "method", "dataset", "checkpoint", "lam", "lambda_th", "attack", "seeds", "seed_list",
    "clean_acc_mean", "clean_acc_std", "robust_acc_mean", "robust_acc_std", *COST_COLUMNS,
    "mean_epoch_time_s", "spec",
]  # fmt: skip

# Its terminal table and Markdown view, shown after the per-run table.
SEED_VIEW = [
    "run", "method", "checkpoint", "lam", "lambda_th", "attack", "seeds", "clean_acc_mean", "clean_acc_std",
    "robust_acc_mean", "robust_acc_std", "memory_mb", "delay_ns",
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

METHOD_LABELS = {"float": "FLOAT", "oat": "OAT", "pgdat": "PGD-AT"}
METHOD_COLORS = {"float": "tab:red", "oat": "tab:blue", "pgdat": "tab:green"}
DPI = 200


# ---------------------------------------------------------------------------------------------
# the joined frame


@functools.lru_cache(maxsize=1024)
def _cost(config: ModelConfig, spec: HardwareSpec, attribution: str) -> dict[str, Any]:
    """Totals of one (model config with its eval condition, spec, attribution); cached, since a
    ResNet34 estimate takes tens of milliseconds and a report asks for every lambda of every run."""
    t = estimate_model(config, spec, attribution=attribution).totals
    return {
        "params": t.params,
        "weight_bytes": t.weight_bytes,
        "memory_mb": t.weight_bytes / MB,
        "macs": t.macs,
        "flops": t.flops,
        "delay_ns": t.delay_ns,
        "delay_base_ns": t.delay_base_ns,
    }


def condition_config(config: ModelConfig, lam: float, lambda_th: float) -> ModelConfig:
    """``config`` evaluated at ``lam``: FLOAT reads it as lambda_n (Eq. 6), OAT / PGD-AT as lambda."""
    if config.method == "float":
        cond = EvalCondition(lambda_n=lam, lambda_th=lambda_th)
    else:
        cond = EvalCondition(lam=lam, lambda_th=lambda_th)
    return config.model_copy(update={"eval": cond})


def cost_at(config: ModelConfig, lam: float, lambda_th: float, spec: HardwareSpec, attribution: str = "paper") -> dict[str, Any]:
    """Cost totals of ``config`` at one condition (params, weight_bytes, memory_mb, macs, flops, delays)."""
    return dict(_cost(condition_config(config, lam, lambda_th), spec, attribution))


def _run_config(config: dict, source: Path):
    """The validated :class:`~hwsim.runner.train.RunConfig` (defaults filled in, so runs recorded
    before a setting existed compare equal to runs at its default)."""
    from .runner.train import RunConfig

    try:
        return RunConfig.model_validate(config)
    except Exception as exc:
        raise HwsimError(f"{source}: the run config is invalid ({exc.__class__.__name__})") from None


def _model_config(config: dict, source: Path) -> ModelConfig:
    return _run_config(config, source).model


def _mean_epoch_time(run_dir: Path) -> float:
    from .runner.train import RUN_FILE, read_run_file

    history = read_run_file(run_dir).get("history") or []
    try:
        times = [float(h["epoch_time_s"]) for h in history]
    except (KeyError, TypeError, ValueError):
        raise HwsimError(f"{run_dir / RUN_FILE}: history entries need a numeric epoch_time_s") from None
    return sum(times) / len(times) if times else math.nan


def report_frame(run_dirs: list[Path], spec: HardwareSpec | None = None, attribution: str = "paper") -> pd.DataFrame:
    """One row per run x checkpoint x lambda x lambda_th x attack: CA / RA joined with the cost at
    that condition.

    The model config is the one the evaluation recorded in ``results.json`` (the model the accuracy
    belongs to); ``seed`` is its training seed. ``checkpoint`` says which weights were evaluated
    (``last``: the last epoch's; ``best``: the per-lambda best-RA checkpoint) and ``epoch`` their
    training epoch (the results' epoch for points recorded without one). ``mean_epoch_time_s`` is
    the mean training epoch time from ``run.json`` (the paper's Fig. 8(a) quantity; NaN before the
    first epoch). ``spec`` defaults to the shipped 65 nm ASIC. A run without ``results.json`` raises
    :class:`HwsimError` naming its directory.
    """
    from .runner.evaluate import read_results

    if attribution not in ATTRIBUTIONS:
        raise HwsimError(f"unknown attribution {attribution!r}; use one of {', '.join(ATTRIBUTIONS)}")
    if not run_dirs:
        raise HwsimError("no run directories to report on")
    spec = spec if spec is not None else load_spec()
    rows: list[dict[str, Any]] = []
    seen: dict[str, Path] = {}
    configs: dict[str, dict] = {}
    for run_dir in dict.fromkeys(Path(d).resolve() for d in run_dirs):  # same dir twice counts once
        results = read_results(run_dir)
        if results.run in seen:
            raise HwsimError(f"{run_dir}: run name {results.run!r} is also the name of {seen[results.run]}; rename one")
        seen[results.run] = run_dir
        run_config = _run_config(results.config, run_dir / "results.json")
        config = run_config.model
        configs[results.run] = {
            **run_config.model_dump(mode="json", by_alias=True, include={"model", "train"}),
            "eval": {"eps": results.eps},  # the attack budget of every RA in the results
        }
        epoch_time = _mean_epoch_time(run_dir)
        order = lambda p: (CHECKPOINT_ORDER.get(p.checkpoint, 2), p.checkpoint, p.attack, p.lambda_th, p.lam)  # noqa: E731
        for p in sorted(results.points, key=order):
            rows.append(
                {
                    "run": results.run,
                    "arch": config.arch,
                    "method": config.method,
                    "dataset": config.dataset,
                    "seed": run_config.train.seed,
                    "checkpoint": p.checkpoint,
                    "lam": p.lam,
                    "lambda_th": p.lambda_th,
                    "attack": p.attack,
                    "clean_acc": p.clean_acc,
                    "robust_acc": p.robust_acc,
                    "images": p.images,
                    "epoch": p.epoch if p.epoch is not None else results.epoch,
                    **cost_at(config, p.lam, p.lambda_th, spec, attribution),
                    "mean_epoch_time_s": epoch_time,
                    "spec": spec.name,
                }
            )
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame.attrs.update({"hwsim_version": __version__, "spec": spec.name, "attribution": attribution, "weight_bits": spec.weight_bits})
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
        raise HwsimError(f"runs {names}: no run config for {', '.join(missing)}; build the frame with report_frame to aggregate seeds")
    flat = [_comparable(configs[r]) for r in runs]
    keys = list(dict.fromkeys(k for f in flat for k in f))
    differing = []
    for key in keys:
        values = [f.get(key, _MISSING) for f in flat]
        if any(v != values[0] or (v is _MISSING) != (values[0] is _MISSING) for v in values[1:]):
            differing.append(f"{key} ({' vs '.join(_setting_text(v) for v in values)})")
    if differing:
        raise HwsimError(f"runs {names} differ in more than the seed: {', '.join(differing)}; aggregate only runs that differ in seed")
    seeds = [(configs[r].get("train") or {}).get("seed") for r in runs]
    repeated = sorted({s for s in seeds if seeds.count(s) > 1}, key=str)
    if repeated:
        twice = ", ".join(r for r, s in zip(runs, seeds) if s in repeated)
        raise HwsimError(f"runs {twice} of series {base!r} have the same seed ({', '.join(map(str, repeated))}); each seed may appear once")


def aggregate_seeds(frame: pd.DataFrame) -> pd.DataFrame:
    """Runs named ``<base>-seed<N>`` aggregated into one series ``<base>`` (:data:`SEED_COLUMNS`).

    Per (series, checkpoint, lambda, lambda_th, attack): the mean and sample standard deviation
    (ddof = 1) of CA and RA over the runs that have the point, their count (``seeds``) and training
    seeds (``seed_list``, e.g. ``"0,1,2"``); the cost columns (equal within a series) and the mean
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
    keys = ["run", "checkpoint", "lam", "lambda_th", "attack"]
    rows = []
    for key, part in data.groupby(keys, sort=False, dropna=False):
        first = part.iloc[0]
        seeds = sorted(part["seed"].dropna().astype(int)) if "seed" in part else []
        rows.append(
            {
                **dict(zip(keys, key)),
                "arch": first["arch"],
                "method": first["method"],
                "dataset": first["dataset"],
                "seeds": len(part),
                "seed_list": ",".join(map(str, seeds)),
                "clean_acc_mean": float(part["clean_acc"].mean()),
                "clean_acc_std": float(part["clean_acc"].std(ddof=1)) if len(part) > 1 else math.nan,
                "robust_acc_mean": float(part["robust_acc"].mean()),
                "robust_acc_std": float(part["robust_acc"].std(ddof=1)) if len(part) > 1 else math.nan,
                **{c: first[c] for c in COST_COLUMNS},
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
            out.at[i, "attack"], out.at[i, "lambda_th"], out.at[i, "lam"],
        ),
    )  # fmt: skip
    out = out.iloc[order].reset_index(drop=True)
    out.attrs = {k: v for k, v in frame.attrs.items() if k != _CONFIGS}
    return out


# ---------------------------------------------------------------------------------------------
# plots


def _attack_rows(frame: pd.DataFrame, attack: str) -> pd.DataFrame:
    rows = frame[frame["attack"] == attack]
    if rows.empty:
        present = ", ".join(sorted(frame["attack"].unique())) or "none"
        raise HwsimError(f"no results for attack {attack!r} in the report (present: {present})")
    return rows


def _attack_label(attack: str) -> str:
    m = re.fullmatch(r"pgd(\d+)", attack)
    if m:
        return f"PGD-{m.group(1)}"
    return {"autoattack": "AutoAttack", "fgsm": "FGSM"}.get(attack, attack)


def _lam_text(value: float) -> str:
    return f"{value:g}"


def _save(fig, path_stem: Path) -> list[Path]:
    """Render to memory, then write each file atomically (PNG 200 dpi and PDF, tight bbox)."""
    path_stem = Path(path_stem)
    written = []
    for suffix, extra in ((".png", {"dpi": DPI}), (".pdf", {"metadata": {"CreationDate": None}})):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=suffix[1:], bbox_inches="tight", **extra)
        written.append(atomic_write_bytes(path_stem.with_suffix(suffix), buffer.getvalue()))
    return written


def _figure():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.2, 4.0))  # bbox_inches="tight" at save time trims the margins
    ax = fig.add_subplot()
    ax.grid(True, linestyle=":", linewidth=0.6, alpha=0.7)
    return fig, ax


def _run_styles(runs: list[str], methods: dict[str, str]) -> dict[str, tuple[str, str]]:
    """Colour and marker per run: the method's colour for its first run, then free tab10 colours."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    reserved = {to_hex(c) for c in METHOD_COLORS.values()}
    palette = [to_hex(colormaps["tab10"](i)) for i in range(10)]
    spare = [c for c in palette if c not in reserved] + [c for c in palette if c in reserved]
    used: set[str] = set()
    styles = {}
    markers = ["o", "s", "^", "D", "v", "P", "X", "*"]
    for i, run in enumerate(runs):
        colour = METHOD_COLORS.get(methods[run])
        colour = to_hex(colour) if colour is not None else None
        if colour is None or colour in used:
            colour = next((c for c in spare if c not in used), spare[i % len(spare)])
        used.add(colour)
        styles[run] = (colour, markers[i % len(markers)])
    return styles


# Label offsets (points) per curve, so the lambda labels of neighbouring curves do not sit on each other.
LABEL_OFFSETS = [(4, 4), (4, -10), (-30, 4), (-30, -10)]


def _accuracy_columns(frame: pd.DataFrame) -> tuple[str, str, str | None, str | None]:
    """(CA, RA, CA std, RA std) column names: the per-run frame's, or the seed-aggregated frame's."""
    if "clean_acc_mean" in frame.columns:
        return "clean_acc_mean", "robust_acc_mean", "clean_acc_std", "robust_acc_std"
    return "clean_acc", "robust_acc", None, None


def plotted_rows(frame: pd.DataFrame, attack: str) -> tuple[pd.DataFrame, str]:
    """The rows of ``attack`` that the trade-off and memory plots draw, and a note for the title.

    A run evaluated at both checkpoints is drawn at its ``best`` one (the per-lambda best-RA
    weights), a run with ``last`` only at its last epoch's; the note says which was drawn
    (empty when every run is drawn at ``last``)."""
    rows = _attack_rows(frame, attack)
    if "checkpoint" not in rows.columns:
        return rows, ""
    has_best = rows["checkpoint"].eq("best").groupby(rows["run"], sort=False).transform("any")
    chosen = rows[rows["checkpoint"] == has_best.map({True: "best", False: "last"})]
    if chosen.empty:  # only checkpoints other than last / best: draw what there is
        return rows, ""
    kinds = set(chosen["checkpoint"])
    if kinds == {"best"}:
        return chosen, "(best checkpoint per $\\lambda$)"
    if "best" in kinds:
        return chosen, "(best checkpoint per $\\lambda$ where evaluated, else last)"
    return chosen, ""


def _seed_text(seeds: pd.Series) -> str:
    lo, hi = int(seeds.min()), int(seeds.max())
    return f"{hi} seeds" if lo == hi else f"{lo}-{hi} seeds"


def _with_note(title: str, note: str) -> str:
    return f"{title}\n{note}" if note else title


def plot_tradeoff(frame: pd.DataFrame, attack: str, path_stem: Path) -> list[Path]:
    """Paper Fig. 6 / 7: CA (x) vs RA (y) across lambda, one line per run (and lambda_th when a run
    was evaluated at several), each point labelled with its lambda. Writes ``path_stem`` + .png/.pdf.

    On the seed-aggregated frame (:func:`aggregate_seeds`) the points are the means, with error bars
    of one standard deviation (CA: horizontal, RA: vertical) where more than one seed has the point.
    Which checkpoint is drawn: :func:`plotted_rows`."""
    rows, note = plotted_rows(frame, attack)
    ca, ra, ca_std, ra_std = _accuracy_columns(rows)
    runs = list(dict.fromkeys(rows["run"]))
    methods = dict(zip(rows["run"], rows["method"]))
    styles = _run_styles(runs, methods)
    fig, ax = _figure()
    curve_index = 0
    for run in runs:
        mine = rows[rows["run"] == run]
        thresholds = sorted(mine["lambda_th"].unique())
        for k, th in enumerate(thresholds):
            curve = mine[mine["lambda_th"] == th].sort_values("lam")
            colour, marker = styles[run]
            label = f"{run} ({METHOD_LABELS.get(methods[run], methods[run])})"
            if len(thresholds) > 1:
                label += f", $\\lambda_{{th}}$={_lam_text(th)}"
            spread = curve[curve[ca_std].notna() | curve[ra_std].notna()] if ca_std else curve.iloc[:0]
            if not spread.empty:
                label += f", mean ± std over {_seed_text(curve['seeds'])}"
            ax.plot(
                curve[ca], curve[ra], marker=marker, color=colour, label=label,
                linestyle=["-", "--", ":", "-."][k % 4], linewidth=1.4, markersize=5,
            )  # fmt: skip
            if not spread.empty:
                ax.errorbar(
                    spread[ca], spread[ra], xerr=spread[ca_std].fillna(0.0), yerr=spread[ra_std].fillna(0.0),
                    fmt="none", ecolor=colour, elinewidth=0.9, capsize=3, alpha=0.8,
                )  # fmt: skip
            offset = LABEL_OFFSETS[curve_index % len(LABEL_OFFSETS)]
            curve_index += 1
            for x, y, lam in zip(curve[ca], curve[ra], curve["lam"]):
                ax.annotate(
                    f"$\\lambda$={_lam_text(lam)}", (x, y), textcoords="offset points", xytext=offset,
                    fontsize=7, color=colour,
                )  # fmt: skip
    ax.margins(0.12)
    ax.set_xlabel("Clean accuracy CA (%)")
    ax.set_ylabel(f"Robust accuracy RA, {_attack_label(attack)} (%)")
    ax.set_title(_with_note(f"Accuracy-robustness trade-off across $\\lambda$ ({_attack_label(attack)})", note))
    ax.legend(fontsize=7, loc="best")
    return _save(fig, path_stem)


def boundary_points(frame: pd.DataFrame, attack: str) -> pd.DataFrame:
    """Per run: CA at lambda = 0 and RA at lambda = 1 (the boundary conditions of OAT / FLOAT), or
    PGD-AT's single point, with the memory normalised to the largest run's. The lowest lambda_th is
    used; when lambda = 0 or 1 was not evaluated, the nearest evaluated lambda stands in (its value
    is in ``ca_lam`` / ``ra_lam``). The checkpoint is the one :func:`plotted_rows` picks. On the
    seed-aggregated frame CA / RA are the means, ``clean_acc_std`` / ``robust_acc_std`` their
    standard deviations and ``seeds`` the fewer seeds of the two points (NaN and 1 for single runs)."""
    rows, _ = plotted_rows(frame, attack)
    ca, ra, ca_std, ra_std = _accuracy_columns(rows)
    out = []
    for run in dict.fromkeys(rows["run"]):
        mine = rows[rows["run"] == run]
        mine = mine[mine["lambda_th"] == mine["lambda_th"].min()].sort_values("lam")
        clean, robust = mine.iloc[0], mine.iloc[-1]  # lowest / highest lambda (equal for PGD-AT)
        out.append(
            {
                "run": run,
                "method": clean["method"],
                "arch": clean["arch"],
                "weight_bytes": float(clean["weight_bytes"]),
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
    points.insert(4, "memory_norm", points["weight_bytes"] / points["weight_bytes"].max())
    return points


def plot_memory_accuracy(frame: pd.DataFrame, attack: str, path_stem: Path) -> list[Path]:
    """Paper Fig. 1: memory normalised to the largest compared model (x) vs accuracy (y), CA and RA
    as separate marker styles, one pair per run, annotated with the method. Writes .png and .pdf.
    On the seed-aggregated frame the markers are the means, with one-standard-deviation error bars."""
    from matplotlib.lines import Line2D

    points = boundary_points(frame, attack)
    _, note = plotted_rows(frame, attack)
    runs = list(points["run"])
    styles = _run_styles(runs, dict(zip(points["run"], points["method"])))
    duplicate_methods = points["method"].duplicated(keep=False)
    # runs at (nearly) the same memory get their labels stacked instead of printed on each other
    slot = points.groupby(points["memory_norm"].round(2)).cumcount()
    fig, ax = _figure()
    for (_, p), dup, k in zip(points.iterrows(), duplicate_methods, slot):
        colour, _ = styles[p["run"]]
        name = METHOD_LABELS.get(p["method"], p["method"])
        if dup:
            name += f" ({p['run']})"
        ax.scatter([p["memory_norm"]], [p["clean_acc"]], marker="o", s=46, color=colour, edgecolors="black", linewidths=0.5, zorder=3)
        ax.scatter([p["memory_norm"]], [p["robust_acc"]], marker="^", s=50, facecolors="white", edgecolors=colour, linewidths=1.5, zorder=3)
        ax.plot([p["memory_norm"]] * 2, [p["robust_acc"], p["clean_acc"]], color=colour, linewidth=0.8, alpha=0.5, zorder=2)
        for acc, std in ((p["clean_acc"], p["clean_acc_std"]), (p["robust_acc"], p["robust_acc_std"])):
            if math.isfinite(std):
                ax.errorbar([p["memory_norm"]], [acc], yerr=[std], fmt="none", ecolor=colour, elinewidth=0.9, capsize=3, zorder=2.5)
        # alternate sides so that runs of near-equal memory (FLOAT vs PGD-AT) keep readable labels
        side = 1 if k % 2 == 0 else -1
        ax.annotate(
            name, (p["memory_norm"], p["clean_acc"]), textcoords="offset points", xytext=(7 * side, 2 - 5 * k),
            fontsize=8, color=colour, ha="left" if side > 0 else "right",
        )  # fmt: skip
        if p["method"] != "pgdat" and (p["ca_lam"] != 0 or p["ra_lam"] != 1):
            ax.annotate(
                f"CA@$\\lambda$={_lam_text(p['ca_lam'])}, RA@$\\lambda$={_lam_text(p['ra_lam'])}",
                (p["memory_norm"], p["robust_acc"]), textcoords="offset points", xytext=(6, -8 - 9 * k), fontsize=6, color=colour,
            )  # fmt: skip
    handles = [
        Line2D([], [], marker="o", linestyle="", color="grey", markeredgecolor="black", label="clean accuracy (CA)"),
        Line2D([], [], marker="^", linestyle="", markerfacecolor="white", markeredgecolor="grey", markeredgewidth=1.5, label=f"robust accuracy (RA, {_attack_label(attack)})"),
    ]  # fmt: skip
    spread = points[points["clean_acc_std"].notna() | points["robust_acc_std"].notna()]
    if not spread.empty:
        handles.append(Line2D([], [], marker="|", linestyle="", color="grey", markersize=10, label=f"mean ± std over {_seed_text(spread['seeds'])}"))
    ax.legend(handles=handles, fontsize=7, loc="best")
    lo = float(points["memory_norm"].min())
    ax.set_xlim(min(lo, 1.0) - 0.1 * max(1.0 - lo, 0.2), 1.0 + 0.25 * max(1.0 - lo, 0.2))
    ax.margins(y=0.12)
    ax.set_xlabel("Normalised memory (model / largest model)")
    ax.set_ylabel("Accuracy (%)")
    ax.set_title(_with_note(f"Memory vs accuracy ({frame.attrs.get('weight_bits', '?')}-bit weights, {_attack_label(attack)})", note))
    return _save(fig, path_stem)


# ---------------------------------------------------------------------------------------------
# everything at once


def _safe_name(attack: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", attack)  # no dots: the stem gets .png / .pdf via with_suffix


def _json_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """NaN -> None so the JSON is valid (json.dumps would write NaN)."""
    out = frame.astype(object).where(frame.notna(), None)
    out.attrs = {k: v for k, v in frame.attrs.items() if k != _CONFIGS}
    return out


def plot_training_time(frame: pd.DataFrame, path_stem: Path) -> list[Path]:
    """Paper Fig. 8(a): mean per-epoch training time of each run, normalised to the fastest run.
    Runs without a finished epoch are left out; returns [] when none has one. Writes .png and .pdf."""
    times = frame.drop_duplicates("run").set_index("run")[["method", "mean_epoch_time_s"]].dropna()
    if times.empty:
        return []
    fastest = float(times["mean_epoch_time_s"].min())
    fig, ax = _figure()
    ax.grid(False, axis="x")
    labels = [f"{METHOD_LABELS.get(m, m)}\n{run}" for run, m in zip(times.index, times["method"])]
    ratios = times["mean_epoch_time_s"] / fastest
    colours = [METHOD_COLORS.get(m, "tab:gray") for m in times["method"]]
    bars = ax.bar(range(len(times)), ratios, color=colours, width=0.6)
    for bar, ratio, seconds in zip(bars, ratios, times["mean_epoch_time_s"]):
        ax.annotate(f"{ratio:.2f}x\n({seconds:.1f} s)", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    textcoords="offset points", xytext=(0, 3), ha="center", fontsize=7)
    ax.set_xticks(range(len(times)), labels, fontsize=7)
    ax.set_ylabel("Training time per epoch (normalised to fastest)")
    ax.set_ylim(0, float(ratios.max()) * 1.25)
    ax.set_title("Per-epoch training time (paper Fig. 8(a) style)")
    return _save(fig, path_stem)


def write_report(
    run_dirs: list[Path],
    out_dir: Path,
    spec: HardwareSpec | None = None,
    attribution: str = "paper",
    fmt: str | OutputFormat = "table",
    *,
    plots: bool = True,
) -> tuple[str, list[Path]]:
    """Build the report of ``run_dirs`` and write ``report.csv``, ``report.json`` and, per attack,
    ``tradeoff-<attack>.png/.pdf`` and ``memory-accuracy-<attack>.png/.pdf`` into ``out_dir``.

    When runs named ``<base>-seed<N>`` form a group of more than one run, the seed-aggregated frame
    (:func:`aggregate_seeds`) is written too, as ``report-seeds.csv`` / ``report-seeds.json``, and the
    plots draw its series (means with standard-deviation error bars); otherwise a stale
    ``report-seeds.*`` of an earlier report in ``out_dir`` is removed.

    Returns the report text in ``fmt`` (table / csv / json / markdown; table and markdown show the
    :data:`REPORT_VIEW` columns, followed by the :data:`SEED_VIEW` of the aggregated frame when there
    is one; csv and json the per-run frame only) and the written paths. ``plots=False`` writes the
    tables only.
    """
    try:
        fmt = OutputFormat(fmt)
    except ValueError:
        raise HwsimError(f"unknown format {fmt!r}; use one of {', '.join(f.value for f in OutputFormat)}") from None
    frame = report_frame(run_dirs, spec=spec, attribution=attribution)
    out_dir = Path(out_dir)
    title = f"accuracy and cost of {frame['run'].nunique()} run(s) on {frame.attrs['spec']} ({attribution} attribution)"
    json_frame = _json_ready(frame)
    written = [
        atomic_write_text(out_dir / REPORT_CSV, frame.to_csv(index=False)),
        atomic_write_text(out_dir / REPORT_JSON, render_frame(json_frame, OutputFormat.json, title)),
    ]
    seeds = None
    if any(len(runs) > 1 for runs in seed_groups(frame["run"]).values()):
        seeds = aggregate_seeds(frame)
        seeds_title = (
            f"mean ± std over seeds: {seeds['run'].nunique()} series of {frame['run'].nunique()} run(s) "
            f"on {frame.attrs['spec']} ({attribution} attribution)"
        )
        written += [
            atomic_write_text(out_dir / REPORT_SEEDS_CSV, seeds.to_csv(index=False)),
            atomic_write_text(out_dir / REPORT_SEEDS_JSON, render_frame(_json_ready(seeds), OutputFormat.json, seeds_title)),
        ]
    else:
        for stale in (REPORT_SEEDS_CSV, REPORT_SEEDS_JSON):  # from an earlier report with seed groups
            try:
                (out_dir / stale).unlink(missing_ok=True)
            except OSError as exc:
                raise HwsimError(f"{out_dir / stale}: cannot remove the stale file: {exc.strerror or exc}") from None
    plot_frame = seeds if seeds is not None else frame
    if plots:
        written += plot_training_time(plot_frame, out_dir / "training-time")
    for attack in dict.fromkeys(plot_frame["attack"]) if plots else ():
        name = _safe_name(attack)
        written += plot_tradeoff(plot_frame, attack, out_dir / f"tradeoff-{name}")
        written += plot_memory_accuracy(plot_frame, attack, out_dir / f"memory-accuracy-{name}")
    if fmt is OutputFormat.json:
        text = render_frame(json_frame, fmt, title)
    elif fmt is OutputFormat.csv:
        text = render_frame(frame, fmt, title)
    else:
        text = render_frame(frame[REPORT_VIEW], fmt, title)
        if seeds is not None:
            text += "\n" + render_frame(seeds[SEED_VIEW], fmt, seeds_title)
    return text, written


__all__ = [
    "COLUMNS", "REPORT_VIEW", "SEED_COLUMNS", "SEED_VIEW", "SEED_INSENSITIVE_TRAIN", "report_frame", "cost_at",
    "condition_config", "seed_base", "seed_groups", "check_seed_group", "aggregate_seeds", "plotted_rows",
    "boundary_points", "plot_tradeoff", "plot_memory_accuracy", "plot_training_time", "write_report",
]  # fmt: skip
