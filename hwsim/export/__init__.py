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


def source_table(source, spec=None, read: list[Path] | None = None):
    """(table, spec, name) of a model YAML or a trained run (folder or checkpoint: the table with the
    run's masks, as ``hwsim estimate RUN_DIR`` costs it). ``spec``: a HardwareSpec, a path or a built-in
    name; default the model's own, else hwsim's default. ``read``, if given, collects what was read
    (the model file or run folder, the spec file): what an export must never overwrite."""
    from ..config import HardwareSpec, load_spec, spec_file
    from ..estimate import is_run, layer_table, resolve_model, resolve_run

    if not Path(source).exists():
        raise HwsimError(f"{source}: no such file or folder")
    given = spec if isinstance(spec, HardwareSpec) else None
    if is_run(source):
        config, masks, spec_source = resolve_run(source, spec if given is None else None)
        table = layer_table(config, masks=masks)
    else:
        config, spec_source = resolve_model(source, None if given is not None else spec)
        table = layer_table(config)
    if read is not None:
        folder = Path(source) if Path(source).is_dir() else None
        read.extend([folder or Path(source), *([] if given else filter(None, [spec_file(spec_source)]))])
    return table, given or load_spec(spec_source), config.name


def export(source, to: str, spec=None, *, name: str | None = None, read: list[Path] | None = None) -> dict[str, str]:
    """The files of ``source`` (a model YAML, a run folder / checkpoint, or a LayerTable) in format
    ``to`` (a key of :data:`EXPORTERS`), as ``{file name: text}``; ``read``: see :func:`source_table`."""
    exporter = get_exporter(to)
    if isinstance(source, LayerTable):
        from ..config import HardwareSpec, load_spec

        table, label = source, name or "model"
        spec = spec if isinstance(spec, HardwareSpec) else load_spec(spec)
    else:
        table, spec, label = source_table(source, spec, read)
    return exporter(table, spec, name=name or label)


def write_export(files: dict[str, str], out_dir: Path | str, inputs=()) -> list[Path]:
    """Write each file into ``out_dir`` (created if missing), atomically; the paths written. None of
    them may be one of ``inputs`` (the model, run or spec the export read)."""
    from ..io import atomic_write_text, check_out_dir

    out = Path(out_dir)
    for filename in files:
        if Path(filename).name != filename or filename in ("", ".", ".."):
            raise HwsimError(f"export file name {filename!r}: not a plain file name")
    check_out_dir(out_dir, files, inputs)
    return [atomic_write_text(out / filename, text) for filename, text in files.items()]


__all__ = ["EXPORTERS", "export", "get_exporter", "source_table", "write_export"]
