"""``hwsim`` command line: a thin layer over :mod:`hwsim.estimate` (and the runner)."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Callable, Optional

import typer

from .errors import HwsimError

app = typer.Typer(
    help="Hardware cost modeling for conditionally trained, adversarially robust networks "
    "(FLOAT / OAT / PGD-AT, Kundu et al.).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

FORMAT_HELP = "table (terminal), csv, json (full contract, every layer) or markdown."
ATTRIBUTION_HELP = (
    "Where Eq. 9's FiLM term is charged: 'paper' (every conv, as Fig. 8(c)) or 'structural' "
    "(only convs a FiLM really follows)."
)


def user_errors(command: Callable) -> Callable:
    """Turn every HwsimError into one line on stderr and exit code 2 (never a traceback)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except HwsimError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper


def emit(text: str, output: Optional[Path]) -> None:
    """Print, or write atomically to ``output``."""
    if output is None:
        sys.stdout.write(text)
        return
    from .io import atomic_write_text

    atomic_write_text(output, text)
    typer.echo(f"wrote {output}", err=True)


def _attribution(value: str) -> str:
    if value not in ("paper", "structural"):
        raise HwsimError(f"--attribution: unknown {value!r}; use 'paper' or 'structural'")
    return value


@app.command()
@user_errors
def estimate(
    model: Path = typer.Argument(..., help="Model YAML, e.g. models/resnet34-cifar10-float.yaml."),
    spec: Optional[Path] = typer.Option(None, "--spec", "-s", help="Hardware spec YAML (default: the model's spec, else specs/asic-65nm.yaml)."),
    per_layer: bool = typer.Option(False, "--per-layer", "-l", help="Show every layer, not only totals."),
    fmt: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to this file (atomically) instead of stdout."),
    attribution: str = typer.Option("paper", "--attribution", "-a", help=ATTRIBUTION_HELP),
) -> None:
    """Per-layer and total cost of one model: params, memory, MACs/FLOPs, Eq. 7-9 delay."""
    from .estimate import estimate_file
    from .formats import OutputFormat, render_estimate

    out_fmt = _format(fmt)
    result = estimate_file(model, spec, attribution=_attribution(attribution))
    emit(render_estimate(result, out_fmt, per_layer), output)


@app.command()
@user_errors
def compare(
    models: list[Path] = typer.Argument(..., help="Two or more model YAMLs; the first is the reference."),
    spec: Optional[Path] = typer.Option(None, "--spec", "-s", help="Hardware spec YAML for all models (default: each model's spec)."),
    fmt: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to this file (atomically)."),
    attribution: str = typer.Option("paper", "--attribution", "-a", help=ATTRIBUTION_HELP),
) -> None:
    """Models side by side, normalised to the first: params, memory, per-conv delay (Fig. 8(b), 8(c))."""
    from .estimate import compare_estimates, estimate_file
    from .formats import OutputFormat, render_frame

    out_fmt = _format(fmt)
    estimates = [estimate_file(m, spec, attribution=_attribution(attribution)) for m in models]
    frame = compare_estimates(estimates)
    title = f"normalised to {frame['model'].iloc[0]} (spec {frame.attrs['spec']}, attribution {frame.attrs['attribution']})"
    if out_fmt in (OutputFormat.table, OutputFormat.markdown):
        shown = frame.set_index("model").T.reset_index(names="quantity")
        shown.columns = [str(c) for c in shown.columns]
        emit(render_frame(shown, out_fmt, title), output)
    else:
        emit(render_frame(frame, out_fmt, title), output)


def _format(value: str):
    from .formats import OutputFormat

    try:
        return OutputFormat(value)
    except ValueError:
        raise HwsimError(f"--format: unknown {value!r}; use one of {', '.join(f.value for f in OutputFormat)}") from None


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
