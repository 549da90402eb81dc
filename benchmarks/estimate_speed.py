"""Counting speed: hwsim's layer table + cost models versus thop, fvcore, torchinfo and ptflops.

For each model YAML the real CPU network is built once (construction is not timed), conditioned with
the model's eval lambda, put in eval mode, and counted by every tool on one batch-1 input. Each tool
gets one warm-up call, then ``--repeats`` timed calls, interleaved round-robin across tools so slow
drift hits all of them alike; the table reports the median. thop and ptflops attach buffers, hooks
and methods to the model they count, so each of their calls gets a fresh deep copy (made outside the
timed region).

What is timed:

* hwsim: ``extract_layers`` + ``cost_table`` on the already-built model (the whole per-layer count
  and every cost model: MACs / FLOPs / op columns, Eq. 7-9 delay, memory).
* thop: ``thop.profile`` as shipped; ``thop[mac-only]``: with ``custom_ops`` that zero BN and
  pooling and give FLOAT's ``NoisyConv2d`` (which thop's exact-type lookup misses) the conv rule.
* fvcore: ``FlopCountAnalysis(...).total()`` (jit trace included).
* torchinfo: ``torchinfo.summary(..., verbose=0)``; MACs are its ``total_mult_adds``.
* ptflops: ``get_model_complexity_info(as_strings=False, print_per_layer_stat=False)`` with the
  default pytorch backend; ``ptflops[aten]``: the same with ``backend="aten"``.

The peers count by running the real forward pass (for FLOAT at lambda_n = 1 that includes drawing
fresh noise for every weight); hwsim walks the model on the meta device and does no arithmetic.

Then the whole ``hwsim estimate models/resnet34-cifar10-float.yaml`` command (a fresh interpreter:
torch import included) and the in-process ``estimate_model`` (meta build included).

Example::

    python benchmarks/estimate_speed.py                      # defaults: < 2 min on 2 CPU cores
    python benchmarks/estimate_speed.py --repeats 3 --models models/resnet20-cifar10-float.yaml
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
try:
    from hwsim.estimate import build_for_config, cost_table, load_model_and_spec, noise_active
except ImportError:  # running from a checkout without installing the package
    sys.path.insert(0, str(ROOT))
    from hwsim.estimate import build_for_config, cost_table, load_model_and_spec, noise_active
from hwsim.nets.conditioning import NoisyConv2d
from hwsim.shapes import extract_layers

DEFAULT_MODELS = [
    "models/resnet34-cifar10-float.yaml",
    "models/wrn16_8-svhn-float.yaml",
    "models/wrn40_2-stl10-float.yaml",
    "models/resnet34-cifar10-oat.yaml",
]
CLI_MODEL = "models/resnet34-cifar10-float.yaml"


@dataclass
class Tool:
    name: str
    run: Callable[[], tuple[int | None, int | None]]  # -> (MACs, params) counted
    prepare: Callable[[], None] | None = None  # untimed, before every call (fresh deep copies)
    params_note: str = ""


def _quiet(fn: Callable):
    """Run ``fn`` with stdout swallowed (ptflops / thop may print)."""
    with contextlib.redirect_stdout(io.StringIO()):
        return fn()


def _load() -> str:
    """1-minute load average: other processes on the box skew every timing below."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "n/a"


def make_tools(net: nn.Module, config, spec, x: torch.Tensor) -> list[Tool]:
    import thop
    from fvcore.nn import FlopCountAnalysis, parameter_count
    from ptflops import get_model_complexity_info
    from thop.vision.basic_hooks import count_convNd, zero_ops
    import torchinfo

    lam, lambda_th = config.eval.knob, config.eval.lambda_th
    noise = noise_active(config)
    res = tuple(config.input_shape)
    copies: dict[str, nn.Module] = {}

    def fresh(key: str) -> Callable[[], None]:
        def prep() -> None:
            copies.pop(key, None)
            copies[key] = copy.deepcopy(net)

        return prep

    def hwsim_run():
        table = extract_layers(net, config.input_shape, lam=lam, lambda_th=lambda_th)
        costs = cost_table(table, spec, config.method, attribution="paper", noise=noise)
        return int(costs["macs"].sum()), int(table.attrs["model_params"])

    def thop_run():
        ops, params = _quiet(lambda: thop.profile(copies["thop"], inputs=(x,), verbose=False))
        return int(ops), int(params)

    mac_only = {nn.BatchNorm2d: zero_ops, nn.AdaptiveAvgPool2d: zero_ops, NoisyConv2d: count_convNd}

    def thop_mac_only_run():
        ops, params = _quiet(
            lambda: thop.profile(copies["thop2"], inputs=(x,), custom_ops=mac_only, verbose=False)
        )
        return int(ops), int(params)

    fv_params = int(parameter_count(net)[""])  # FlopCountAnalysis counts no params: untimed

    def fvcore_run():
        fa = FlopCountAnalysis(net, (x,)).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        return int(fa.total()), fv_params

    def torchinfo_run():
        stats = torchinfo.summary(net, input_data=x, verbose=0)
        return int(stats.total_mult_adds), int(stats.total_params)

    def ptflops_run(key: str, backend: str):
        def run():
            macs, params = _quiet(
                lambda: get_model_complexity_info(
                    copies[key], res, as_strings=False, print_per_layer_stat=False, backend=backend
                )
            )
            return (None if macs is None else int(macs)), (None if params is None else int(params))

        return run

    return [
        Tool("hwsim", hwsim_run),
        Tool("thop", thop_run, fresh("thop")),
        Tool("thop[mac-only]", thop_mac_only_run, fresh("thop2")),
        Tool("fvcore", fvcore_run, params_note="*"),
        Tool("torchinfo", torchinfo_run),
        Tool("ptflops", ptflops_run("pt", "pytorch"), fresh("pt")),
        Tool("ptflops[aten]", ptflops_run("aten", "aten"), fresh("aten")),
    ]


def time_tools(tools: list[Tool], repeats: int) -> dict[str, tuple[list[float], tuple]]:
    """Warm up each tool once, then ``repeats`` rounds, tools interleaved; seconds per call."""
    times: dict[str, list[float]] = {t.name: [] for t in tools}
    counts: dict[str, tuple] = {}
    for rnd in range(repeats + 1):
        for tool in tools:
            if tool.prepare:
                tool.prepare()
            start = time.perf_counter()
            result = tool.run()
            elapsed = time.perf_counter() - start
            if rnd == 0:
                counts[tool.name] = result  # warm-up: keep the counts, drop the time
            else:
                times[tool.name].append(elapsed)
                if result != counts[tool.name]:
                    raise RuntimeError(f"{tool.name} counted {result}, then {counts[tool.name]}")
    return {name: (times[name], counts[name]) for name in times}


def fmt_int(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def print_model_table(name: str, results: dict, tools: list[Tool]) -> None:
    ref_macs, ref_params = results["hwsim"][1]
    ref_ms = statistics.median(results["hwsim"][0]) * 1e3
    header = f"{'tool':<15} {'median ms':>10} {'MACs counted':>16} {'params':>12}  {'MACs == hwsim (rel. err)':<26} {'time / hwsim':>12}"
    print(f"\n== {name} ==")
    print(header)
    print("-" * len(header))
    for tool in tools:
        times, (macs, params) = results[tool.name]
        ms = statistics.median(times) * 1e3
        if macs is None:
            match = "failed"
        elif macs == ref_macs:
            match = "yes (0)"
        else:
            match = f"no ({(macs - ref_macs) / ref_macs:+.3%})"
        p = fmt_int(params) + tool.params_note
        if params is not None and params != ref_params:
            p += "!"
        print(f"{tool.name:<15} {ms:>10.2f} {fmt_int(macs):>16} {p:>12}  {match:<26} {ms / ref_ms:>11.2f}x")


def bench_cli(model: str, runs: int, cached: bool) -> list[float]:
    """Whole-command wall time. ``cached=False`` disables the layer-table cache (network built,
    torch imported: a first estimate); ``cached=True`` is a repeated estimate of the same model."""
    exe = Path(sys.executable).with_name("hwsim")
    cmd = [str(exe)] if exe.exists() else [shutil.which("hwsim") or "hwsim"]
    cmd += ["estimate", model]
    env = dict(os.environ)
    env.pop("HWSIM_NO_CACHE", None)
    if not cached:
        env["HWSIM_NO_CACHE"] = "1"
    times = []
    for i in range(runs + 1):  # first run warms the file (and table) cache, not timed
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
        if i:
            times.append(elapsed)
    label = "layer-table cache hit (no torch import)" if cached else "no cache: network built, torch imported"
    print(f"\n== CLI end to end: {' '.join([Path(cmd[0]).name, *cmd[1:]])}, {label} ==")
    print(f"   ({cmd[0]}, fresh interpreter each run)")
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per tool (median reported)")
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS, help="model YAMLs, relative to the repo root")
    parser.add_argument("--cli-runs", type=int, default=5, help="timed runs of the hwsim CLI (0 skips)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")

    import fvcore
    import ptflops
    import thop
    import torchinfo
    from importlib.metadata import version

    print("hwsim counting speed")
    print(
        f"machine: {platform.machine()} {platform.system()}, os.cpu_count()={os.cpu_count()} "
        f"({len(os.sched_getaffinity(0))} usable), torch.get_num_threads()={torch.get_num_threads()}, "
        f"python {platform.python_version()}, load average {_load()} at start"
    )
    print(
        f"torch {torch.__version__}; thop {version('thop')}, fvcore {version('fvcore')}, "
        f"torchinfo {version('torchinfo')}, ptflops {version('ptflops')}; "
        f"repeats={args.repeats} (median, after 1 warm-up, tools interleaved)"
    )
    del fvcore, ptflops, thop, torchinfo
    try:
        if os.getloadavg()[0] > 0.5 * len(os.sched_getaffinity(0)):
            print("WARNING: high 1-minute load average, the machine may be busy: the forward-pass tools (every peer) slow down many-fold "
                  "when other processes hold the cores (OpenMP threads spin), so their times and ratios "
                  "are inflated. hwsim does no arithmetic and is barely affected.")
    except OSError:
        pass

    start_all = time.perf_counter()
    for model in args.models:
        path = Path(model) if Path(model).is_absolute() else ROOT / model
        config, spec = load_model_and_spec(path)
        torch.manual_seed(0)
        net = build_for_config(config, device="cpu").eval()
        net.set_condition(config.eval.knob, config.eval.lambda_th)
        x = torch.randn(1, *config.input_shape)
        tools = make_tools(net, config, spec, x)
        results = time_tools(tools, args.repeats)
        label = f"{path.stem}  (input {'x'.join(map(str, config.input_shape))}, lambda={config.eval.knob})"
        print_model_table(label, results, tools)
        del net, tools, results
    print(
        "\n  * fvcore: FlopCountAnalysis counts no parameters; the params shown are fvcore's "
        "parameter_count(), not timed.\n  ! params differ from hwsim's (= sum of net.parameters())."
    )

    if args.cli_runs > 0:
        for cached in (False, True):
            times = bench_cli(CLI_MODEL, args.cli_runs, cached)
            print(f"   median of {len(times)}: {statistics.median(times) * 1e3:.0f} ms  "
                  f"(min {min(times) * 1e3:.0f}, max {max(times) * 1e3:.0f})")

    from hwsim.estimate import cost_table, layer_table, summarize

    config, spec = load_model_and_spec(ROOT / CLI_MODEL)
    for use_cache, label in ((False, "meta build + walk + costs"), (True, "cached table + costs")):
        def run_once() -> None:
            table = layer_table(config, use_cache=use_cache)
            summarize(cost_table(table, spec, config.method, noise=noise_active(config)), table.attrs["model_params"])

        run_once()  # warm-up (fills the cache)
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            run_once()
            times.append(time.perf_counter() - start)
        print(f"\n== in-process {Path(CLI_MODEL).stem}: {label} ==")
        print(f"   median of {len(times)}: {statistics.median(times) * 1e3:.2f} ms  "
              f"(min {min(times) * 1e3:.2f}, max {max(times) * 1e3:.2f})")
    print(f"\ntotal benchmark wall time: {time.perf_counter() - start_all:.1f} s (load average {_load()} at end)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
