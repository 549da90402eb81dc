"""Export a model's layer table to peer tools' input formats: SCALE-Sim 3.x, Timeloop v0.4, ZigZag 3.x.

>>> from hwsim.export import export, write_export
>>> files = export("models/resnet34-cifar10-float.yaml", "scalesim")   # {file name: text}
>>> write_export(files, "out/scalesim")

Each format is a pure function ``(LayerTable, HardwareSpec, name=...) -> {file name: text}`` in its own
module, registered in :data:`EXPORTERS`; every export has a ``README.md`` listing what the format
cannot express (FLOAT's noise add, OAT's FiLM modulation, irregular density, BN) with hwsim's cost
for each. Files are written in one place, :func:`write_export` (atomic). torch is imported only to
read a trained run's checkpoint masks.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import HwsimError
from ..workload.table import LayerTable
from .scalesim import export_scalesim
from .timeloop import export_timeloop
from .zigzag import export_zigzag

Exporter = Callable[..., dict[str, str]]
EXPORTERS: dict[str, Exporter] = {
    "scalesim": export_scalesim,
    "timeloop": export_timeloop,
    "zigzag": export_zigzag,
}


def get_exporter(to: str) -> Exporter:
    if to not in EXPORTERS:
        raise HwsimError(f"--to: unknown format {to!r}; use one of {', '.join(EXPORTERS)}")
    return EXPORTERS[to]


def source_table(source, spec=None):
    """(table, spec, name) of a model YAML or a trained run (folder or checkpoint: the table with the
    run's masks, as ``hwsim estimate RUN_DIR`` costs it). ``spec``: a HardwareSpec, a path or a built-in
    name; default the model's own, else hwsim's default."""
    from ..config import HardwareSpec, load_spec
    from ..estimate import is_run, layer_table, resolve_model, resolve_run

    if not Path(source).exists():
        raise HwsimError(f"{source}: no such file or folder")
    given = spec if isinstance(spec, HardwareSpec) else None
    if is_run(source):
        config, masks, spec_source = resolve_run(source, spec if given is None else None)
        return layer_table(config, masks=masks), given or load_spec(spec_source), config.name
    config, spec_source = resolve_model(source, None if given is not None else spec)
    return layer_table(config), given or load_spec(spec_source), config.name


def export(source, to: str, spec=None, *, name: str | None = None) -> dict[str, str]:
    """The files of ``source`` (a model YAML, a run folder / checkpoint, or a LayerTable) in format
    ``to`` (a key of :data:`EXPORTERS`), as ``{file name: text}``."""
    exporter = get_exporter(to)
    if isinstance(source, LayerTable):
        from ..config import HardwareSpec, load_spec

        table, label = source, name or "model"
        spec = spec if isinstance(spec, HardwareSpec) else load_spec(spec)
    else:
        table, spec, label = source_table(source, spec)
    return exporter(table, spec, name=name or label)


def write_export(files: dict[str, str], out_dir: Path | str) -> list[Path]:
    """Write each file into ``out_dir`` (created if missing), atomically; the paths written."""
    from ..io import atomic_write_text

    out = Path(out_dir)
    if str(out_dir).strip() == "":
        raise HwsimError("--out-dir: empty folder name")
    if out.exists() and not out.is_dir():
        raise HwsimError(f"--out-dir {out_dir}: is a file; give a folder")
    for filename in files:
        if Path(filename).name != filename or filename in ("", ".", ".."):
            raise HwsimError(f"export file name {filename!r}: not a plain file name")
    return [atomic_write_text(out / filename, text) for filename, text in files.items()]


__all__ = ["EXPORTERS", "export", "get_exporter", "source_table", "write_export"]
