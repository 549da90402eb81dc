"""``hwsim`` command line: a thin layer over :mod:`hwsim.estimate` (and the runner)."""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import sys
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import typer
from typer.core import TyperGroup

from .errors import HwsimError, HwsimWarning


class _OneLineUsageErrors(TyperGroup):
    """click's own refusals (an option value of the wrong type, an unknown option, a missing
    argument) as one ``error:`` line and exit code 2, like hwsim's own errors, instead of a framed
    usage panel. Help (``--help``, no arguments) is shown as before."""

    def make_context(self, info_name, args, parent=None, **extra):
        with _usage_errors():
            return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx):
        with _usage_errors():  # a command's own options are parsed here
            return super().invoke(ctx)


class _usage_errors:
    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        # by name: typer may bring its own copy of click (typer._click), whose classes are not click's
        names = {c.__name__ for c in type(exc).__mro__} if exc is not None else set()
        if "ClickException" not in names or "NoArgsIsHelpError" in names:
            return False
        where = getattr(getattr(exc, "ctx", None), "command_path", None)
        hint = f" (see '{where} --help')" if where else ""
        typer.echo(f"error: {one_line(exc.format_message() + hint)}", err=True)
        raise typer.Exit(2) from None


app = typer.Typer(
    help="Hardware cost modeling for conditionally trained, adversarially robust networks "
    "(FLOAT / OAT / PGD-AT, Kundu et al.).",
    cls=_OneLineUsageErrors,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _flags_show_no_type() -> None:
    """typer (0.2x) labels every option in the help panel with its type, flags too, so ``--help``
    read ``--help <bool>`` as if it took a value. A flag takes none: show no type for it (other
    options keep theirs). Patched once, on typer's own option class (there is no setting for it)."""
    from typer.core import TyperOption

    shown = getattr(TyperOption, "display_type_rich", None)
    if shown is None or getattr(shown, "hwsim_patched", False):
        return

    def display_type_rich(self, ctx):
        return None if getattr(self, "is_flag", False) and not getattr(self, "count", False) else shown(self, ctx)

    display_type_rich.hwsim_patched = True
    TyperOption.display_type_rich = display_type_rich


_flags_show_no_type()

FORMAT_HELP = "table (terminal), csv, json (full contract, every layer) or markdown."
EVAL_FORMAT_HELP = (
    "table (terminal), csv, json (every accuracy point with the run, checkpoint and epoch) or markdown; "
    "results.json/csv in the run folder are written either way."
)
REPORT_FORMAT_HELP = (
    "table (terminal: the main columns), csv or json (every column of report.csv), or markdown; "
    "report.csv/json are written either way."
)
DEFAULT_SPEC_HELP = "the built-in asic-65nm"  # hwsim.config.DEFAULT_SPEC (not imported: keeps start-up light)
ATTRIBUTION_HELP = (
    "Where Eq. 9's FiLM term is charged: 'paper' (every conv, as Fig. 8(c)) or 'structural' "
    "(only convs a FiLM really follows)."
)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """hwsim's own warnings as one ``warning: ...`` line, each text once per command (a run read by
    several figures warns once); others as Python shows them."""
    global _warned
    _warned = True
    if issubclass(category, HwsimWarning):
        text = str(message)
        if text not in _shown:
            _shown.add(text)
            typer.echo(f"warning: {text}", err=True)
    else:
        _python_show_warning(message, category, filename, lineno, file, line)


_python_show_warning = warnings.showwarning
_shown: set[str] = set()
_warned = False  # any warning shown in this command (a warned estimate is never stored for replay)


def one_line(text: str, limit: int = 1000) -> str:
    """A message as one bounded line (the last guard: messages are built one-line already)."""
    text = " ".join(text.split("\n"))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def user_errors(command: Callable) -> Callable:
    """Turn every HwsimError into one line on stderr and exit code 2 (never a traceback), and every
    HwsimWarning into one ``warning:`` line."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        _end_startup_gc_pause()
        global _warned
        warnings.showwarning = _show_warning
        _shown.clear()  # once per command, also when one process runs several (tests, notebooks)
        _warned = False
        try:
            return command(*args, **kwargs)
        except HwsimError as exc:
            typer.echo(f"error: {one_line(str(exc))}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper


_one_command_process = False  # set by main(): the hwsim process, which ends when its one command does


def _end_startup_gc_pause() -> None:
    """The command begins. hwsim.__main__ disabled the collector before the CLI's imports; what they
    made (modules, classes, typer's and pydantic's tables) lives as long as the process, so it is
    frozen out of every later collection, then collection resumes. Enabling without the freeze would
    make the next collection walk all of it (10-15 ms)."""
    if _one_command_process and not gc.isenabled():
        gc.freeze()
        gc.enable()


@contextlib.contextmanager
def gc_paused():
    """No cyclic garbage collection during a one-shot costing command (estimate, compare). Once torch
    is loaded, every generation-2 collection walks its million or so module objects and frees nothing:
    about 80 ms of a cold ``estimate`` on this machine (benchmarks/estimate_speed.py). The command
    itself makes little garbage; reference counting frees it. In a process that runs several commands
    (tests, a notebook) the collector's state is restored on the way out; the ``hwsim`` process itself
    ends with the command, so there it stays paused (resuming would cost one collection over
    everything the command made)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled and not _one_command_process:
            gc.enable()


def runner_errors(command: Callable) -> Callable:
    """For train / evaluate / report: what the machine refuses (a name too long for the file system,
    a full disk, no memory for the tensors asked for) is one user-error line too, naming the file."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            raise HwsimError(f"{where}{exc.strerror or exc}") from None
        except MemoryError:
            raise HwsimError("out of memory; use a smaller --batch-size, image size or model") from None

    return wrapper


def emit(text: str, output: Path | None, inputs: Iterable[Path | str] = ()) -> None:
    """Print, or write atomically to ``output``: never onto a file the command reads (``inputs``; a
    folder there stands for every file in it), never onto a folder or an empty name."""
    if output is None:
        from .stdout import write_stdout

        write_stdout(text)
        return
    from .io import atomic_write_text

    check_output(output, inputs)
    atomic_write_text(output, text)
    typer.echo(f"wrote {output}", err=True)


def check_output(output: Path | str, inputs: Iterable[Path | str]) -> None:
    """One error line if ``output`` is empty, a folder, or (symlinks and hard links followed) one of
    the files in ``inputs``."""
    if str(output).strip() in ("", "."):
        raise HwsimError("--output: empty file name")
    from .io import input_at

    target = Path(output)
    if target.is_dir():
        raise HwsimError(f"--output {output}: is a folder; give a file name")
    read = input_at(target, inputs)
    if read is not None:
        raise HwsimError(f"--output {output}: is {read}, which this command reads or writes; choose another file")


def _folder(value: str | Path) -> Path:
    """An --out-dir as given: an empty name is refused (Path("") would be the current folder)."""
    if str(value).strip() == "":
        raise typer.BadParameter("empty folder name")
    return Path(value)


def _attribution(value: str) -> str:
    from .costs.delay import ATTRIBUTIONS

    if value not in ATTRIBUTIONS:
        raise HwsimError(f"--attribution: unknown {value!r}; use one of {', '.join(ATTRIBUTIONS)}")
    return value


@app.command()
@user_errors
def estimate(
    model: Path = typer.Argument(
        ...,
        help="Model YAML (e.g. models/resnet34-cifar10-float.yaml), or a trained run's folder / checkpoint.pt "
        "(FLOATS: costed with the real densities of its masks).",
    ),
    spec: str | None = typer.Option(
        None,
        "--spec",
        "-s",
        help=f"Hardware spec: a YAML path or a built-in name ('hwsim specs' lists them). Default: the model's spec, else {DEFAULT_SPEC_HELP}.",
    ),
    per_layer: bool = typer.Option(False, "--per-layer", "-l", help="Show every layer, not only totals."),
    fmt: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write to this file (atomically) instead of stdout."
    ),
    attribution: str = typer.Option("paper", "--attribution", "-a", help=ATTRIBUTION_HELP),
) -> None:
    """Per-layer and total cost of one model: params, memory, MACs/FLOPs, Eq. 7-9 delay."""
    with gc_paused():  # the imports too: numpy, pydantic and hwsim.config are most of a cached estimate
        from .estimate import estimate_file, estimate_run, is_run
        from .formats import render_estimate

        out_fmt = _format(fmt)
        if is_run(model):
            result = estimate_run(model, spec, attribution=_attribution(attribution))
            emit(render_estimate(result, out_fmt, per_layer), output, [model, *([spec] if spec else [])])
            return
        from .config import recording_file_probes

        read: list[Path] = []
        with recording_file_probes() as probes:
            result = estimate_file(model, spec, attribution=_attribution(attribution), read=read)
        text = render_estimate(result, out_fmt, per_layer)
        emit(text, output, read)
        if output is None and not _warned:  # what `hwsim estimate` printed, for the same command again
            from .replay import store

            store(probes, text)


@app.command()
@user_errors
def compare(
    models: list[Path] = typer.Argument(..., help="Two or more model YAMLs; the first is the reference."),
    spec: str | None = typer.Option(
        None,
        "--spec",
        "-s",
        help=f"Hardware spec for all models: a YAML path or a built-in name ('hwsim specs'). Default: each model's spec, else {DEFAULT_SPEC_HELP}.",
    ),
    fmt: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file (atomically)."),
    attribution: str = typer.Option("paper", "--attribution", "-a", help=ATTRIBUTION_HELP),
) -> None:
    """Models side by side, normalised to the first: params, memory, per-conv delay (Fig. 8(b), 8(c))."""
    from .estimate import compare_estimates, estimate_file
    from .formats import OutputFormat, render_frame

    out_fmt = _format(fmt)
    inputs: list[Path] = []
    with gc_paused():
        estimates = [estimate_file(m, spec, attribution=_attribution(attribution), read=inputs) for m in models]
    frame = compare_estimates(estimates)
    title = (
        f"normalised to {frame['model'].iloc[0]} (spec {frame.attrs['spec']}, attribution {frame.attrs['attribution']})"
    )
    note = calibration_note([e.spec for e in estimates])
    if note:
        frame.attrs["calibration"] = note
    note = "\n".join([*frame.attrs.get("notes", []), *([note] if note else [])])  # why a cell is n/a, first
    if out_fmt in (OutputFormat.table, OutputFormat.markdown):
        shown = frame.set_index("model").T.reset_index(names="quantity")
        shown.columns = [str(c) for c in shown.columns]
        emit(render_frame(shown, out_fmt, title, note=note), output, inputs)
    else:
        emit(render_frame(frame, out_fmt, title, note=note), output, inputs)
        if note and out_fmt is OutputFormat.csv:
            typer.echo(note, err=True)  # keep the CSV itself machine-readable


def calibration_note(specs) -> str:
    """One line for each distinct calibrated spec: its values are a calibration, not the paper's."""
    seen: dict[str, str] = {}
    for s in specs:
        if s.calibration:
            seen.setdefault(s.name, " ".join(s.calibration.split()))
    return "\n".join(f"calibration of spec {name}: {text}" for name, text in seen.items())


@app.command("specs")
@user_errors
def specs_command(
    fmt: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP),
) -> None:
    """The built-in hardware specs (use by name: --spec NAME, or 'spec: NAME' in a model YAML)."""
    import pandas as pd

    from .config import FLAT_KEYS, HIERARCHY_INTS, builtin_spec_names, load_spec
    from .formats import OutputFormat, json_text, render_frame

    out_fmt = _format(fmt)
    loaded = [load_spec(name) for name in builtin_spec_names()]
    if out_fmt is OutputFormat.json:
        emit(json_text([s.model_dump(mode="json") for s in loaded]), None)
        return
    rows = [
        {"name": s.name, "description": s.description, "cost_model": s.cost_model, **s.flat(),
         **({"dataflow": s.hierarchy.dataflow} if s.hierarchy is not None else {}), **s.hierarchy_values(),
         "calibrated": bool(s.calibration)}
        for s in loaded
    ]  # fmt: skip
    frame = pd.DataFrame(rows)
    frame = frame[[c for c in frame.columns if c != "calibrated"] + ["calibrated"]]
    for column in HIERARCHY_INTS:  # whole numbers stay whole where a paper-only spec leaves the cell empty
        if column in frame:
            frame[column] = frame[column].astype("Int64")
    frame = frame.astype(object).where(frame.notna(), None)  # empty cells are None in every format
    title = "built-in specs (hwsim/specs/*.yaml; use --spec NAME)"
    if out_fmt is OutputFormat.csv:
        emit(render_frame(frame, out_fmt, title), None)
        return
    shown = frame.set_index("name").T.reset_index(names="field")
    shown["field"] = [f"{FLAT_KEYS[f]}.{f}" if f in FLAT_KEYS else f for f in shown["field"]]
    shown.columns = [str(c) for c in shown.columns]
    text = lambda v: (  # noqa: E731
        ("yes" if v else "no") if isinstance(v, bool)
        else "" if not isinstance(v, str) and pd.isna(v)  # a hierarchy value of a paper-only spec
        else f"{v:g}" if isinstance(v, float) else str(v)
    )  # fmt: skip
    emit(render_frame(shown.map(text), out_fmt, title, note=calibration_note(loaded)), None)


@app.command()
@user_errors
@runner_errors
def train(
    model: Path = typer.Argument(..., help="Model YAML with a dataset, e.g. models/resnet20-digits-float.yaml."),
    data_dir: Path | None = typer.Option(
        None,
        "--data-dir",
        "-d",
        help="Folder with the data set's standard files (not needed for digits). Nothing is downloaded.",
    ),
    name: str | None = typer.Option(None, "--name", "-n", help="Run name (default: the model file's name)."),
    out_dir: Path = typer.Option(Path("reports/runs"), "--out-dir", help="Runs are written to OUT_DIR/NAME/."),
    epochs: int = typer.Option(200, help="Training epochs (paper: 200; Tiny-ImageNet 120)."),
    batch_size: int = typer.Option(128, help="Mini-batch size B (FLOAT splits it in two halves)."),
    lr: float = typer.Option(0.1, help="Initial SGD learning rate (cosine schedule)."),
    weight_decay: float = typer.Option(
        5e-4, help="SGD weight decay (on FLOAT's alphas only with --alpha-weight-decay)."
    ),
    alpha_weight_decay: bool = typer.Option(
        False,
        "--alpha-weight-decay",
        help="Decay FLOAT's alphas too, as the authors' code (FLOAT_v2 OAT_sparse.py:170: SGD over all parameters).",
    ),
    eps: float = typer.Option(8 / 255, help="L_inf budget of the PGD training attack."),
    attack_steps: int = typer.Option(7, help="PGD-k steps during training."),
    pgdat_lambda: float = typer.Option(0.5, help="PGD-AT's fixed lambda (Eq. 3)."),
    oat_lambdas: str | None = typer.Option(
        None, help="OAT's training set S_lambda (default 0,0.1,0.2,0.3,0.4,1 as OAT.py; --preset paper: 0,0.2,0.7,1)."
    ),
    preset: str | None = typer.Option(
        None,
        help="'paper': the paper's comparison settings where they differ from hwsim's defaults (OAT S_lambda {0,0.2,0.7,1}; WRN dropout 0.3).",
    ),
    image_size: int | None = typer.Option(None, help="Resize images (default: the model's input size)."),
    augment: bool | None = typer.Option(
        None, "--augment/--no-augment", help="Crop (4 px padding) + flip (default: on for CIFAR/STL-10/Tiny-ImageNet)."
    ),
    limit_train: int | None = typer.Option(None, help="Use only the first N training images."),
    limit_test: int | None = typer.Option(None, help="Use only the first N test images."),
    val_split: int = typer.Option(
        0,
        help="Hold out the last N training images for the per-epoch check and best-checkpoint choice (OAT: 5000). 0: use the first --eval-limit test images.",
    ),
    eval_limit: int = typer.Option(512, help="Held-out images for the per-epoch CA / RA check."),
    eval_lambdas: str = typer.Option(
        "0,0.2,0.7,1",
        help="Lambdas (FLOAT: lambda_n) checked every epoch; the best checkpoint of each is kept (--select).",
    ),
    float_loss: str = typer.Option(
        "reference",
        help="FLOAT's loss: 'reference' (FLOAT_v2's: clean pass over the whole batch, mean(0.5 CE_clean + 0.5 CE_adv)) or 'algorithm1' (the paper's Algorithm 1: 0.5 L_C of the first half + 0.5 L_A of the second).",
    ),
    select: str = typer.Option(
        "weighted",
        help="Best checkpoint per lambda: 'weighted' (1 - lambda) CA + lambda RA; 'ra' best RA (OAT.py's best_ATA); 'ca' best CA (best_TA). Under 'weighted' an epoch at chance is never kept over one that learned.",
    ),
    eval_lambda_th: float = typer.Option(0.0, help="FLOAT's lambda_th for the per-epoch check (Eq. 6)."),
    eval_every: int = typer.Option(1, help="Check CA / RA every N epochs (and after the last)."),
    eval_attack_condition: str = typer.Option(
        "evaluated",
        help="FLOAT / FLOATS: the per-epoch attack's condition: 'evaluated' (the checked lambda_n) or 'float_v2' "
        "(the authors' validation: attack with noise at lambda 1 and the checked lambda's BN; FLOAT_v2 OAT_sparse.py:343-367).",
    ),
    seed: int = typer.Option(0, help="Seed of every random step (same seed, same numbers on CPU)."),
    device: str = typer.Option("cpu", help="cpu or cuda (under torchrun: each process takes cuda:LOCAL_RANK)."),
    amp: bool = typer.Option(
        False, "--amp", help="CUDA mixed precision (bf16 where supported, else fp16 with loss scaling)."
    ),
    channels_last: bool = typer.Option(
        False, "--channels-last", help="NHWC memory layout (faster convolutions on recent GPUs)."
    ),
    workers: int = typer.Option(0, help="DataLoader worker processes."),
    nproc: int | None = typer.Option(
        None,
        help="Train with DDP on N processes: hwsim starts 'torchrun --standalone --nproc_per_node=N -m hwsim.cli train ...' for you (one GPU each with --device cuda; gloo on CPU).",
    ),
    stop_after: int | None = typer.Option(
        None, help="Stop after N epochs of this invocation (the schedule still spans --epochs); continue with --resume."
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue the run from its last finished epoch."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Train a PGD-AT, OAT, FLOAT or FLOATS-i network (checkpoint every epoch, best checkpoint per lambda, resumable, DDP under torchrun)."""
    from .config import load_model_config
    from .runfiles import check_run_name, check_trainable, validate_options
    from .runner.train import RunConfig, TrainSettings, apply_preset, check_device, train_run

    config = load_model_config(model)
    run_name = check_run_name(name, "--name") if name is not None else check_run_name(config.name, f"{model}: name")
    if stop_after is not None and stop_after < 1:
        raise HwsimError(f"--stop-after must be >= 1, got {stop_after}")
    values = dict(
        epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, alpha_weight_decay=alpha_weight_decay, eps=eps,
        attack_steps=attack_steps, pgdat_lambda=pgdat_lambda,
        seed=seed, data_dir=str(data_dir) if data_dir else None, image_size=image_size, augment=augment,
        limit_train=limit_train, limit_test=limit_test, val_split=val_split, eval_limit=eval_limit,
        eval_lambdas=_parse_list(eval_lambdas, what="--eval-lambdas"), eval_lambda_th=eval_lambda_th, eval_every=eval_every,
        eval_attack_condition=eval_attack_condition,
        device=device, amp=amp, channels_last=channels_last, workers=workers, select=select, float_loss=float_loss,
    )  # fmt: skip
    config, values = apply_preset(config, values, preset)
    if oat_lambdas is not None:  # an explicit S_lambda wins over the preset's
        values["oat_lambdas"] = _parse_list(oat_lambdas, what="--oat-lambdas")
    settings = validate_options(TrainSettings, values)
    check_trainable(config, model)
    check_device(settings)  # before any data is read: a CPU-only torch fails here, at once
    if nproc is not None:  # bad input failed above, once, not in every process
        from .runner.ddp import launch, strip_option

        raise typer.Exit(launch(nproc, strip_option(sys.argv[1:], "--nproc")))
    run = RunConfig(name=run_name, model=config, train=settings)
    run_dir = train_run(run, out_dir, resume=resume, progress=not quiet, stop_after=stop_after)
    if os.environ.get("RANK", "0") == "0":  # under torchrun, rank 0 speaks for the run
        typer.echo(f"trained {run.name}: {run_dir}", err=True)


@app.command()
@user_errors
@runner_errors
def evaluate(
    checkpoint: Path = typer.Argument(..., help="A run directory or its checkpoint.pt."),
    lambdas: str = typer.Option(
        "0,0.2,0.7,1", help="Lambdas to evaluate (FLOAT: lambda_n; OAT: lambda; PGD-AT has one point)."
    ),
    lambda_th: float = typer.Option(0.0, help="FLOAT's BN_C -> BN_A threshold: 0 or 0.5 (Eq. 6)."),
    attacks: str = typer.Option("pgd7", help="Comma-separated: pgd7, pgd20, fgsm, autoattack."),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", "-d", help="Data folder (default: the one used for training)."
    ),
    limit: int | None = typer.Option(None, help="Evaluate on the first N test images."),
    batch_size: int = typer.Option(256, help="Evaluation batch size."),
    seed: int = typer.Option(0, help="Seed of the attacks' random starts."),
    device: str = typer.Option("cpu", help="cpu or cuda."),
    checkpoint_kind: str = typer.Option(
        "last",
        "--checkpoint",
        "-c",
        help="'last': the last epoch's weights; 'best': per lambda, the best held-out epoch under the run's --select rule (PGD-7 on the held-out set).",
    ),
    fmt: str = typer.Option("table", "--format", "-f", help=EVAL_FORMAT_HELP),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the printed table to this file (atomically) instead of stdout."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars and no time estimate."),
    slim_factor: list[float] | None = typer.Option(
        None,
        "--slim-factor",
        help="Slimmable runs: a width (slimming factor) to evaluate; repeat for several (default: every one of the run's).",
    ),
    attack_condition: str = typer.Option(
        "evaluated",
        help="FLOAT / FLOATS: 'evaluated' attacks the model at each lambda_n; 'float_v2' as the authors' validation "
        "(attack with noise at lambda 1 and that lambda's BN, images scored at lambda 1; FLOAT_v2 OAT_sparse.py:343-367).",
    ),
) -> None:
    """Clean (CA) and robust (RA) accuracy per lambda and attack; saved as results.json/csv in the run."""
    from .formats import render_frame
    from .runner.evaluate import evaluate_checkpoint, results_note

    out_fmt = _format(fmt)
    run_files = [checkpoint.parent if checkpoint.is_file() else checkpoint]
    if output is not None:  # refused before the (long) evaluation, not after it
        check_output(output, run_files)
    results = evaluate_checkpoint(
        checkpoint, lambdas=_parse_list(lambdas, what="--lambdas"), lambda_th=lambda_th,
        attacks=_parse_list(attacks, str, "--attacks"), data_dir=str(data_dir) if data_dir else None,
        limit=limit, batch_size=batch_size, seed=seed, device=device, progress=not quiet, checkpoint_kind=checkpoint_kind,
        slim_factors=slim_factor or None, attack_condition=attack_condition,
    )  # fmt: skip
    title = f"{results.run} ({checkpoint_kind} checkpoint, eps {results.eps * 255:g}/255)"
    emit(render_frame(results.frame(), out_fmt, title, note=results_note(results)), output, run_files)


@app.command()
@user_errors
@runner_errors
def report(
    runs: list[Path] = typer.Argument(..., help="Run directories (evaluated with 'hwsim evaluate')."),
    spec: Path | None = typer.Option(
        None,
        "--spec",
        "-s",
        help="Hardware spec YAML for all runs (default: each run's model spec, looked for in the run directory, "
        "the current directory and hwsim's models/; else specs/asic-65nm.yaml).",
    ),  # fmt: skip
    out_dir: Path = typer.Option(
        Path("reports/figures"), "--out-dir", help="Folder for report.csv/json and the plots."
    ),
    fmt: str = typer.Option("table", "--format", "-f", help=REPORT_FORMAT_HELP),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the printed report text to this file (atomically) instead of stdout."
    ),
    attribution: str = typer.Option("paper", "--attribution", "-a", help=ATTRIBUTION_HELP),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Write the PNG/PDF figures."),
    heatmap: str | None = typer.Option(
        None,
        "--heatmap",
        metavar="LAYER",
        help="Also draw the paper's Fig. 5(a) |weight| heatmap (C_o x C_i) of this conv layer for every sparse run "
        "(reads the checkpoints; needs torch): heatmap-LAYER.png/.pdf.",
    ),
) -> None:
    """Join CA / RA with params, memory, MACs and delay; plot the trade-off (Fig. 6/7), memory (Fig. 1),
    slimmable models (Fig. 9); the Table 1 view of sparse runs."""
    from .config import load_spec
    from .report import write_report

    chosen = load_spec(spec) if spec is not None else None
    if output is not None:  # refused before anything is written: the runs, the spec, the report's own tables
        from .report import REPORT_CSV, REPORT_JSON, REPORT_SEEDS_CSV, REPORT_SEEDS_JSON, TABLE1_CSV, TABLE1_JSON

        names = (REPORT_CSV, REPORT_JSON, REPORT_SEEDS_CSV, REPORT_SEEDS_JSON, TABLE1_CSV, TABLE1_JSON)
        tables = [out_dir / name for name in names]
        check_output(output, [*runs, *([spec] if spec is not None else []), *tables])
    text, paths = write_report(
        runs,
        out_dir,
        spec=chosen,
        attribution=_attribution(attribution),
        fmt=_format(fmt).value,
        plots=plots,
        heatmap=heatmap,
    )
    emit(text, output, [*runs, *([spec] if spec is not None else []), *paths])  # runs' files, spec, its own files
    for path in paths:
        typer.echo(f"wrote {path}", err=True)


@app.command()
@user_errors
@runner_errors
def sweep(
    sweep_file: Path = typer.Argument(..., help="Sweep YAML: models, base spec, axes, constraints, objectives."),
    out_dir: Path = typer.Option(
        None,
        "--out-dir",
        parser=_folder,
        metavar="<path>",
        help="Folder for points / front / summary files and figures (default reports/sweeps/<file stem>).",
    ),
    max_points: int | None = typer.Option(
        None, "--max-points", help="Refuse sweeps with more design points (default: the file's max_points, else 1e8)."
    ),
    chunk: int = typer.Option(1 << 18, "--chunk", help="Design points evaluated per chunk (bounds the memory)."),
    keep_points: bool | None = typer.Option(
        None,
        "--keep-points/--no-keep-points",
        help="Keep every feasible row and write points.parquet (default: when points x models x conditions <= 2e6).",
    ),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Write the PNG/PDF figures."),
    engine: str = typer.Option(
        "local", "--engine", help="local (this process) or dask (chunks as Dask tasks; pip install 'hwsim[dask]')."
    ),
    scheduler: str | None = typer.Option(
        None,
        "--scheduler",
        help="Dask scheduler address (tcp://host:8786), e.g. a dask-jobqueue cluster's; default: a LocalCluster.",
    ),
    workers: int = typer.Option(2, "--workers", help="LocalCluster worker processes for --engine dask."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar and no summary table."),
) -> None:
    """Design-space exploration: cost models over a grid of hardware specs, keep the Pareto front."""
    from .explore.engine import plan_sweep, run_plan
    from .explore.output import FILES, summary_frame, write_sweep
    from .formats import OutputFormat, render_frame
    from .io import check_out_dir

    if max_points is not None and max_points < 1:
        raise HwsimError(f"--max-points: must be >= 1 (got {max_points})")
    if chunk < 1:
        raise HwsimError(f"--chunk: must be >= 1 (got {chunk})")
    out_dir = out_dir if out_dir is not None else Path("reports/sweeps") / sweep_file.stem
    check_out_dir(out_dir, FILES, [sweep_file])  # before the sweep is read: nothing is written
    plan = plan_sweep(sweep_file, max_points=max_points, keep_points=keep_points)
    check_out_dir(out_dir, FILES, plan.inputs)  # its models, runs and spec too
    if engine not in ("local", "dask"):
        raise HwsimError(f"--engine: unknown {engine!r}; use local or dask")
    if scheduler is not None and engine != "dask":
        raise HwsimError("--scheduler: only with --engine dask")
    if workers < 1:
        raise HwsimError(f"--workers: must be >= 1 (got {workers})")
    result = run_plan(plan, chunk=chunk, progress=not quiet, engine=engine, scheduler=scheduler, workers=workers)
    paths = write_sweep(result, out_dir, plots=plots, inputs=plan.inputs)
    if not quiet:
        lead = "hierarchy cost model; Eq. 7-9 " if plan.base.cost_model == "hierarchy" else ""
        title = f"sweep {sweep_file} on {plan.base.name} ({lead}{plan.attribution} attribution)"
        from .stdout import write_stdout

        write_stdout(render_frame(summary_frame(result), OutputFormat.table, title))
    typer.echo(f"wrote {len(paths)} files to {out_dir}", err=True)


def _option_error(err) -> str:
    """A pydantic error of the train settings as one line about the command-line option."""
    from .runfiles import option_error

    return option_error(err)


def _parse_list(text: str, kind=float, what: str = "value") -> list:
    try:
        return [kind(v.strip()) for v in text.split(",") if v.strip()]
    except ValueError:
        raise HwsimError(f"cannot read {what} list {text!r}; use comma-separated values like 0,0.2,0.7,1") from None


def _format(value: str):
    from .formats import OutputFormat

    try:
        return OutputFormat(value)
    except ValueError:
        raise HwsimError(
            f"--format: unknown {value!r}; use one of {', '.join(f.value for f in OutputFormat)}"
        ) from None


# --- export (hwsim.export: SCALE-Sim 3.x, Timeloop v0.4, ZigZag 3.x) ---------------------------------


@app.command("export")
@user_errors
@runner_errors
def export_command(
    source: Path = typer.Argument(
        ..., help="Model YAML, or a trained run's folder / checkpoint.pt (its masks' densities)."
    ),
    to: str = typer.Option(..., "--to", "-t", help="Format: scalesim, timeloop or zigzag."),
    spec: str | None = typer.Option(
        None,
        "--spec",
        "-s",
        help=f"Hardware spec (SCALE-Sim's array and bandwidth, ZigZag's weight bits). Default: the model's spec, else {DEFAULT_SPEC_HELP}.",
    ),
    out_dir: Path = typer.Option(
        ...,
        "--out-dir",
        "-d",
        parser=_folder,
        metavar="<path>",
        help="Folder the files are written to (created if missing).",
    ),
) -> None:
    """Write the model's layers as a peer tool's input (with a README of what the format cannot express)."""
    from .export import export, get_exporter, write_export
    from .io import check_out_dir

    get_exporter(to)  # an unknown format is one line before anything is loaded
    check_out_dir(out_dir)
    read: list[Path] = []
    files = export(source, to, spec, read=read)
    written = write_export(files, out_dir, inputs=read)
    typer.echo(f"wrote {len(written)} files to {out_dir}", err=True)


# -- hwsim figures ------------------------------------------------------------------------------


@app.command()
@user_errors
@runner_errors
def figures(
    only: str | None = typer.Option(
        None, "--only", help="Comma-separated figure names (default: all; e.g. fig8b,fig8c,table1-costs)."
    ),
    runs: list[Path] | None = typer.Option(
        None,
        "--runs",
        help="Evaluated run directories for every run-based figure (repeatable; default: each figure its "
        "own tracked digits runs under reports/, listed in figures.md).",
    ),
    spec: Path | None = typer.Option(None, "--spec", "-s", help="Hardware spec YAML (default: each model's own)."),
    out_dir: Path = typer.Option(
        Path("reports/figures"), "--out-dir", parser=_folder, metavar="<path>", help="Folder for the figures."
    ),
    list_only: bool = typer.Option(
        False, "--list", help="List the figures (name, runs needed, what it draws); write nothing."
    ),
) -> None:
    """The paper's figures (PNG + PDF + CSV each), figures.md (the index) and paper-check.md."""
    from .figures import Context, get_figure, list_figures, write_figures

    if list_only:
        for name in list_figures():
            fig = get_figure(name)
            kind = "runs    " if fig.needs_runs else "analytic"
            typer.echo(f"{name:<17} {kind} {fig.description}")
        return

    names = [n.strip() for n in only.split(",") if n.strip()] if only is not None else None
    if only is not None and not names:
        raise HwsimError("--only: no figure names")
    for name in names or []:
        get_figure(name)
    from .figures.writer import file_names
    from .io import check_out_dir

    check_out_dir(out_dir)
    if spec is not None:
        from .config import load_spec

        load_spec(spec)
    for run in runs or []:
        if not run.is_dir():
            raise HwsimError(f"--runs {run}: not a run directory")
    check_out_dir(out_dir, file_names(names), [*(runs or []), *([spec] if spec is not None else [])])
    ctx = Context(spec=spec, runs=list(runs) if runs else None)
    paths = write_figures(ctx, out_dir, names)
    typer.echo(f"wrote {len(paths)} files to {out_dir}", err=True)


def main() -> None:  # pragma: no cover - console entry point
    # pydantic looks for plugins by scanning every installed package's entry points, a fixed cost of
    # every command; hwsim's CLI loads none unless asked (HWSIM_PYDANTIC_PLUGINS=1). A library caller
    # (import hwsim) is not affected, nor is a PYDANTIC_DISABLE_PLUGINS the user set.
    if not os.environ.get("HWSIM_PYDANTIC_PLUGINS"):
        os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    global _one_command_process
    _one_command_process = True
    try:
        app()
    except SystemExit as stop:
        _exit_skipping_torch_teardown(stop.code)
    _exit_skipping_torch_teardown(0)


def _exit_skipping_torch_teardown(code: int | str | None) -> None:  # pragma: no cover - entry point
    """End the process once the command's work is done. With torch loaded, the interpreter's own
    teardown (freeing torch's modules, then libtorch's static destructors) takes about 0.5 s on this
    machine, a third of a cold ``estimate``, and does nothing for the user. So: run the ``atexit``
    handlers (logging, Dask, coverage flush there), flush stdout / stderr, and leave with
    ``os._exit``. Every file hwsim writes is closed (and renamed into place) before this point.
    Without torch, or while another non-daemon thread still runs, the normal exit is kept."""
    import threading

    others = [t for t in threading.enumerate() if t is not threading.main_thread()]  # the live ones
    if "torch" not in sys.modules or any(not t.daemon for t in others):
        sys.exit(code)
    if code is not None and not isinstance(code, int):  # sys.exit("message"): printed, status 1
        print(code, file=sys.stderr)
        code = 1
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (hwsim ... | head): nothing left to lose
            pass
    os._exit(code or 0)


if __name__ == "__main__":  # pragma: no cover
    main()
