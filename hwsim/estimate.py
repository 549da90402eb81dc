"""The estimate pipeline as a Python API: config -> network -> layer table -> costs -> report.

>>> from hwsim.estimate import estimate_file
>>> report = estimate_file("models/resnet34-cifar10-float.yaml")
>>> report.totals.delay_ns, report.layer_frame().head()
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, create_model

from . import __version__
from .config import HardwareSpec, ModelConfig, load_model_config, load_spec, resolve_spec_path, spec_file
from .costs.delay import Attribution, InexactError
from .costs.metrics import CostGrid, costs, total_rules
from .errors import HwsimError
from .workload.table import LayerTable

# torch, the networks and the walk are imported lazily: a cached layer table needs none of them;
# pandas only where a DataFrame is asked for.

Totals = create_model(
    "Totals",
    __doc__="Whole-network totals, one field per total of the metric registry (hwsim.costs.metrics). "
    "Bytes are counts of 8-bit bytes (bits / 8). A metric registered at run time adds its totals as "
    "extra fields.",
    __config__=ConfigDict(extra="allow"),
    **{t.name: (float | None, None) if t.optional else (int if t.integer else float, ...) for t in total_rules()},
)


class SparsitySummary(BaseModel):
    """What sparsity (FLOATS pruning, slimming) buys against the same network dense at full width
    (the reference: the model with its ``sparsity`` block removed, on the same spec and condition).

    ``cr`` is the paper's compression ratio, dense conv weights over kept (nonzero) conv weights
    (1/d for a uniform density); ``effective_cr`` divides the dense conv weight bits by the conv
    storage bits of the spec's sparse format (values plus index overhead). ``crf`` is the channel
    reduction factor, total conv input channels of the reference over those present (a channel is
    present when any of its weights is kept). ``eq7_speedup`` is the reference's Eq. 7 delay over this
    model's Eq. 7 delay (``delay_base_ns``); ``speedup`` the same for the delay the method pays.
    """

    kind: str
    target_density: float
    slim_factor: float = 1.0
    dense_conv_weights: int
    kept_conv_weights: int
    cr: float
    effective_cr: float
    crf: float
    storage_format: str
    storage_bits: int
    dense_storage_bits: int
    eq7_speedup: float
    speedup: float


class Estimate(BaseModel):
    """Report of one model on one spec (the JSON contract of ``hwsim estimate --format json``)."""

    model_config = ConfigDict(protected_namespaces=())

    hwsim_version: str
    model: dict[str, Any]
    spec: HardwareSpec
    attribution: str
    condition: dict[str, Any]
    totals: Totals
    layers: list[dict[str, Any]]
    sparsity: SparsitySummary | None = None

    def layer_frame(self):
        import pandas as pd

        return pd.DataFrame.from_records(self.layers)


def build_for_config(
    config: ModelConfig, device="cpu", *, lambda_choices: tuple[float, ...] | None = None, seed: int = 0
):
    """The network a model config describes (on ``meta`` for shape-only costing: instant).

    ``lambda_choices`` / ``seed``: OAT's training lambdas and the seed of a ``rand`` lambda encoding
    (``film_encoding``) and of FLOAT's ``rm`` masks (``float_variant``); the runner passes ``oat_lambdas``
    and the training seed; the costs do not depend on them."""
    import torch

    from .nets import build_network

    with torch.device(device):
        return build_network(
            config.arch,
            config.method,
            config.classes,
            dual_bn=config.uses_dual_bn,
            film_dim=config.film_dim,
            film_encoding=config.film_encoding,
            lambda_choices=lambda_choices,
            seed=seed,
            float_variant=config.float_variant,
            alpha_init=config.alpha_init,
            in_channels=config.input_shape[0],
            slim_factors=slim_factors_of(config),
            **({"dropout": config.dropout} if config.arch.startswith("wrn") else {}),
        )


def slim_factors_of(config: ModelConfig) -> tuple[float, ...]:
    """The widths of the model's network: its ``sparsity.slim_factors`` when kind is slim, else (1.0,)."""
    sparsity = config.sparsity
    if sparsity is not None and sparsity.kind == "slim":
        return tuple(sparsity.slim_factors)
    return (1.0,)


def noise_active(config: ModelConfig) -> bool:
    """Whether the costed condition adds weight noise (FLOAT's convs then pay Eq. 8)."""
    return config.rule.noise_active(config.eval.knob)


def layer_table(config: ModelConfig, *, use_cache: bool = True, masks: dict[str, dict] | None = None) -> LayerTable:
    """The model's layer table: from the on-disk cache when present, else walked (and cached); the
    model's ``sparsity`` (with a trained run's ``masks`` summary, if given) sets each row's density
    and kept channels (the cached table is the dense walk)."""
    from .workload.cache import load_table, store_table, table_key
    from .workload.sparsity import with_sparsity

    key = table_key(config) if use_cache else None
    table = load_table(key) if key else None
    if table is None:
        from .workload.extract import extract_layers

        # the full-width network without switchable layers: slim widths are applied by with_slim,
        # checked against the slimmable network's own forward in tests/test_sparse_costs.py
        net = build_for_config(config.model_copy(update={"sparsity": None}), device="meta")
        table = extract_layers(net, config.input_shape, lam=config.eval.knob, lambda_th=config.eval.lambda_th)
        if key:
            store_table(key, table)
    return with_sparsity(table, config.sparsity, masks)


def model_costs(
    config: ModelConfig, specs, *, attribution: Attribution = "paper", table: LayerTable | None = None
) -> CostGrid:
    """Every metric of one model over one spec or a grid of specs (see :func:`hwsim.costs.costs`)."""
    table = layer_table(config) if table is None else table
    return costs(table, specs, config.method, attribution=attribution, noise_active=noise_active(config))


def sparsity_summary(
    config: ModelConfig, table: LayerTable, grid: CostGrid, spec, attribution
) -> SparsitySummary | None:
    """:class:`SparsitySummary` of a sparse model's costed ``table`` (None for a dense model): conv
    weights and channels against the full widths the table keeps, delay against the same model
    costed dense at full width."""
    import numpy as np

    from .costs.memory import format_bits

    sparsity = config.sparsity
    if sparsity is None:
        return None
    col = lambda name: np.asarray(table[name], np.int64)  # noqa: E731
    conv = (np.asarray(table["op"]) == "conv") & (col("weight_params") > 0)
    full = col("kernel_h") * col("kernel_w") * (col("full_in_channels") // col("groups")) * col("full_out_channels")
    kept = np.rint(np.asarray(table["density"], np.float64) * col("weight_params"))
    bits = format_bits(table, col("weight_params"), spec.sparse_format, spec.index_bits, spec.weight_bits)
    dense_weights, kept_weights = int(full[conv].sum()), int(kept[conv].sum())
    storage, dense_storage = int(round(bits[conv].sum())), dense_weights * spec.weight_bits
    reference = model_costs(config.model_copy(update={"sparsity": None}), spec, attribution=attribution)
    ref = reference.totals_at(0)
    mine = grid.totals_at(0)
    return SparsitySummary(
        kind=sparsity.kind,
        target_density=sparsity.density,
        slim_factor=sparsity.eval_slim_factor if sparsity.kind == "slim" else 1.0,
        dense_conv_weights=dense_weights,
        kept_conv_weights=kept_weights,
        cr=dense_weights / max(kept_weights, 1),
        effective_cr=dense_storage / max(storage, 1),
        crf=float(col("full_in_channels")[conv].sum() / max(col("in_channels")[conv].sum(), 1)),
        storage_format=spec.sparse_format,
        storage_bits=storage,
        dense_storage_bits=dense_storage,
        eq7_speedup=ref["delay_base_ns"] / mine["delay_base_ns"],
        speedup=ref["delay_ns"] / mine["delay_ns"],
    )


def _records(table: LayerTable, grid: CostGrid) -> list[dict[str, Any]]:
    columns = {name: table[name].tolist() for name in table.columns}
    columns.update({name: values.tolist() for name, values in grid.layer_columns(0).items()})
    names = list(columns)
    return [dict(zip(names, row)) for row in zip(*columns.values())]


def estimate_model(
    config: ModelConfig,
    spec: HardwareSpec,
    *,
    attribution: Attribution = "paper",
    masks: dict[str, dict[str, Any]] | None = None,
) -> Estimate:
    """Cost one model config on one hardware spec. ``masks``: a trained run's per-conv mask summary
    (:func:`hwsim.runner.masks.mask_summary`, also the ``layers`` of the run file's last history
    entry), costed in place of the analytic densities."""
    table = layer_table(config, masks=masks)
    if table.attrs["other_params"]:
        untied = ", ".join(table.attrs.get("untied", [])) or "none reported"
        raise RuntimeError(
            f"{table.attrs['other_params']} parameters not attributed to any layer (untied modules: {untied})"
        )
    grid = model_costs(config, spec, attribution=attribution, table=table)
    return Estimate(
        hwsim_version=__version__,
        model=config.model_dump(mode="json", by_alias=True),
        spec=spec,
        attribution=attribution,
        condition={"lambda": config.eval.knob, "lambda_th": config.eval.lambda_th, "noise_active": grid.noise_active},
        totals=grid.totals_at(0),
        layers=_records(table, grid),
        sparsity=sparsity_summary(config, table, grid, spec, attribution),
    )


def resolve_model(model_path: Path | str, spec_path: Path | str | None = None) -> tuple[ModelConfig, Path | str | None]:
    """Read a model YAML once: its config, and the spec source it is costed on (``spec_path`` if
    given, else the model's ``spec``, else None for the default)."""
    config = load_model_config(model_path)
    return config, spec_path if spec_path is not None else resolve_spec_path(model_path, config)


def load_model_and_spec(
    model_path: Path | str, spec_path: Path | str | None = None
) -> tuple[ModelConfig, HardwareSpec]:
    """Read a model YAML and its spec: ``spec_path`` if given, else the model's ``spec``, else the default."""
    config, source = resolve_model(model_path, spec_path)
    return config, load_spec(source)


def estimate_file(
    model_path: Path | str,
    spec_path: Path | str | None = None,
    *,
    attribution: Attribution = "paper",
    read: list[Path] | None = None,
) -> Estimate:
    """Cost a model YAML; ``read``, if given, collects the files read (the model and its spec file:
    what a command must never overwrite with its output)."""
    config, source = resolve_model(model_path, spec_path)
    if read is not None:
        read.extend([Path(model_path), *filter(None, [spec_file(source)])])
    spec = load_spec(source)
    try:
        return estimate_model(config, spec, attribution=attribution)
    except InexactError as exc:  # name the files: the spec's field, for this model's layer table
        label = spec_file(source) or source or "the default spec"
        raise HwsimError(f"{label}: {exc} (model {model_path})") from None


def is_run(path: Path | str) -> bool:
    """A run directory or a checkpoint, rather than a model YAML."""
    path = Path(path)
    return path.is_dir() or path.suffix == ".pt"


def resolve_run(run_path: Path | str, spec_path: Path | str | None = None):
    """(model config named after the run, its masks summary, spec source) of a trained run (folder or
    checkpoint): the config it was trained with, each conv's kept fraction from the checkpoint's
    masks (empty for a dense run), and ``spec_path``, else the spec its model names (looked for as
    ``hwsim report`` does), else the default."""
    from .runfiles import run_spec_path
    from .runner.masks import mask_summary
    from .runner.train import load_checkpoint, run_config_of

    payload = load_checkpoint(run_path)
    run = run_config_of(payload)
    run_dir = Path(run_path) if Path(run_path).is_dir() else Path(run_path).parent
    source = spec_path if spec_path is not None else run_spec_path(run.name, run_dir, run.model)
    sparsity = run.model.sparsity
    masks = mask_summary(payload.get("masks") or {}, sparsity.eval_slim_factor if sparsity is not None else 1.0)
    return run.model.model_copy(update={"name": run.name}), masks, source


def estimate_run(
    run_path: Path | str, spec_path: Path | str | None = None, *, attribution: Attribution = "paper"
) -> Estimate:
    """Cost a trained run (:func:`resolve_run`): its model config, and for sparse (FLOATS) models
    each conv's real density from the checkpoint's masks."""
    config, masks, source = resolve_run(run_path, spec_path)
    return estimate_model(config, load_spec(source), attribution=attribution, masks=masks)


def compare_estimates(estimates: list[Estimate]):
    """Side by side, normalised to the first model (the paper's Fig. 8(b) and 8(c) view), as a
    pandas DataFrame.

    Per model: params and memory (full and Fig. 8(b) convention) with their ratios to the first
    model; energy per inference (``energy_pj``) and its ratio to the first model; on specs with a
    hierarchy section, the hierarchy model's latency, energy and DRAM energy with their ratios to the
    first model; per-conv delay normalised to the first model's matching conv (min / max / mean) and to
    the model's own Eq. 7 baseline (min / max / mean, Fig. 8(c)). Convs are matched by name, or by
    position when the names differ. Models whose conv count differs from the first model's have no
    per-conv ratios to it: those cells are None (null in JSON, empty in CSV, "n/a" in the table view)
    and ``frame.attrs["notes"]`` says why.
    """
    import numpy as np
    import pandas as pd

    if not estimates:
        raise ValueError("nothing to compare")
    convs = [e.layer_frame().query("op == 'conv'") for e in estimates]
    first, ref = estimates[0], convs[0]
    rows, notes = [], []
    hierarchical = all(e.spec.hierarchy is not None for e in estimates)
    for est, conv in zip(estimates, convs):
        t = est.totals
        row = {
            "model": est.model["name"],
            "method": est.model["method"],
            "params": t.params,
            "params_ratio": t.params / first.totals.params,
            "weight_bytes": t.weight_bytes,
            "memory_ratio": t.weight_bytes / first.totals.weight_bytes,
            "memory_ratio_fig8b": t.weight_bytes_fig8b / first.totals.weight_bytes_fig8b,
            "conv_delay_ns": t.conv_delay_ns,
            "conv_delay_ratio": t.conv_delay_ns / first.totals.conv_delay_ns,
            "energy_pj": t.energy_pj,
            "energy_ratio": t.energy_pj / first.totals.energy_pj,
        }
        if hierarchical:  # the hierarchy model's totals (hwsim.costs.hierarchy) beside the paper's
            for key in ("hier_latency_ns", "hier_energy_pj", "hier_dram_pj"):
                row[key] = getattr(t, key)
                row[key.replace("_ns", "").replace("_pj", "") + "_ratio"] = getattr(t, key) / getattr(first.totals, key)
        own = conv["delay_ns"].to_numpy() / conv["delay_base_ns"].to_numpy()
        if len(conv) == len(ref):
            by_name = conv.set_index("name")["delay_ns"]
            if set(by_name.index) == set(ref["name"]):
                mine = by_name.loc[ref["name"]].to_numpy()
            else:
                mine = conv["delay_ns"].to_numpy()
            vs_first = mine / ref["delay_ns"].to_numpy()
        else:
            vs_first = None
            notes.append(
                f"n/a: conv_delay_vs_first_* of {row['model']}: conv counts differ "
                f"({len(conv)} vs {len(ref)} in {first.model['name']}), so convs cannot be paired"
            )
        for label, ratios in (("vs_first", vs_first), ("vs_eq7", own)):
            for stat, reduce in (("min", np.min), ("max", np.max), ("mean", np.mean)):
                row[f"conv_delay_{label}_{stat}"] = None if ratios is None else float(reduce(ratios))
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame.attrs["attribution"] = first.attribution
    frame.attrs["spec"] = first.spec.name
    if notes:
        frame.attrs["notes"] = notes
    return frame
