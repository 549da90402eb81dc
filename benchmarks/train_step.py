"""Training-step speed of PGD-AT, OAT and FLOAT on one backbone, plus PGD-20 versus torchattacks.

Part 1 times one full training step, exactly ``hwsim.runner.train.train_step`` (PGD-7 generation,
forward/backward of the method's loss, SGD step with ``make_optimizer``), for

* PGD-AT (``method="pgdat"``, single BN),
* OAT (``method="oat"``, dual BN, FiLM with ``film_dim=1``, per-sample lambdas),
* FLOAT (``method="float"``, dual BN, noisy convolutions),

on the same backbone (``--arch``) and the same random batch in one run. Every network is built after
``torch.manual_seed(--seed)``; every method gets its own CPU generator seeded with ``--seed`` (as in
``train_run``). Warm-up steps come first, then timed steps round-robin across the methods so that
slow drift (thermal, other load) hits all of them alike; the table reports the median seconds per
step, images/s (batch / median) and the ratio of each method's median to FLOAT's.

What is being compared (the reference code's steps, see ``hwsim.runner.train``): every attack is
generated in eval mode with parameter gradients off. PGD-AT attacks the whole batch and runs two
full-batch training passes (adversarial, clean); OAT runs a clean pass over the whole batch, then
attacks and passes again only its lambda != 0 rows (5/6 of the batch with S = {0, .1, .2, .3, .4, 1});
FLOAT runs a clean pass over the whole batch, then attacks and passes again only its second half.
Every method iterates the same batches per epoch, so the per-step ratio is the per-epoch ratio. The
paper (Kundu et al.) reports per-epoch GPU time on a Titan XP with ResNet34: OAT 1.43x and PGD-AT
1.37x FLOAT. ``--amp`` / ``--channels-last`` time the steps as ``hwsim train --amp --channels-last``.

With the sparse rows (default; ``--skip-sparse`` drops them): FLOATS-i (d = 0.1) and FLOATS-c
(d = 0.34) time ``train_step`` plus the mask ``apply()`` the training loop runs after every step, and
their end-of-epoch ``prune_and_regrow`` once (spread over ``--steps-per-epoch``); FLOAT slim and OAT
slim (SF {1, 0.5}) train both widths every step, as ``hwsim train`` does. The paper reports OAT slim
1.90x slower than FLOAT slim (GPU).

Part 2 measures PGD-20 throughput (eps 8/255, step size ``pgd_step_size(eps, 20)``, random start)
of hwsim's ``pgd_attack`` against ``torchattacks.PGD`` on the same model -- the FLOAT network of the
same backbone (fresh build, same seed) conditioned at lambda = 1 (``net.set_condition(1.0)``: noisy
weights, BN_A) and put in eval mode (``torchattacks`` switches the model to eval mode during its
attack anyway, so both run the same computation) -- and the same batch, alternating the two.

Example::

    python benchmarks/train_step.py                       # defaults: < 90 s on 2 idle CPU cores
    python benchmarks/train_step.py --arch resnet34 --batch-size 128 --device cuda
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

try:
    from hwsim.nets import build_network, count_params
except ImportError:  # running from a checkout without installing the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from hwsim.nets import build_network, count_params
from hwsim.nets import ARCHS
from hwsim.nets.conditioning import set_noise_impl
from hwsim.runner.attacks import pgd_attack, pgd_step_size
from hwsim.runner.sparse import ENGINES
from hwsim.runner.train import TrainSettings, make_optimizer, make_scaler, train_step

#: (label, method, build_network options, sparsity engine) in table order; FLOAT is the reference of
#: the ratios. The engine, (kind, density), masks the conv weights as ``hwsim train`` does (Table 1's
#: densities); slim rows train both widths SF {1, 0.5} each step (the Fig. 9 pair).
METHODS: list[tuple[str, str, dict, tuple[str, float] | None]] = [
    ("PGD-AT", "pgdat", {}, None),
    ("OAT", "oat", {"dual_bn": True, "film_dim": 1}, None),
    ("FLOAT", "float", {"dual_bn": True}, None),
    ("FLOATS-i", "floats", {"dual_bn": True}, ("irregular", 0.1)),
    ("FLOATS-c", "floats", {"dual_bn": True}, ("channel", 0.34)),
    ("FLOAT slim", "float", {"dual_bn": True, "slim_factors": (1.0, 0.5)}, None),
    ("OAT slim", "oat", {"dual_bn": True, "film_dim": 1, "slim_factors": (1.0, 0.5)}, None),
]
SPARSE_LABELS = ("FLOATS-i", "FLOATS-c", "FLOAT slim", "OAT slim")
#: FLOAT again, its noisy convs on the pre-issue-18 noise path (``set_noise_impl("reference")``): the
#: same draws, std recomputed every forward, the scale / add as separate ops.
NOISE_REF_LABEL = "FLOAT ref-noise"


def structural_ratios(batch: int, attack_steps: int, oat_lambdas: list[float]) -> dict[str, float]:
    """Expected step-cost ratios X/FLOAT from the passes alone, in forward-pass units of one image:
    a forward costs 1, an attack backward 1 (input gradient only, parameter gradients off), a
    training backward 2 (input and weight gradients). PGD-AT: attack B + adversarial and clean passes
    over B; OAT: clean pass over B, attack and pass over its lambda != 0 rows; FLOAT: clean pass over
    B, attack and noisy pass over B/2. Ignores BN, FiLM and the noise itself."""
    k = attack_steps
    pgdat = batch * 2 * k + 2 * batch * 3
    n_adv = batch - (math.ceil(batch / len(oat_lambdas)) if 0 in oat_lambdas else 0)
    oat = batch * 3 + n_adv * (2 * k + 3)
    half = batch - batch // 2
    flt = batch * 3 + half * (2 * k + 3)
    return {"PGD-AT": pgdat / flt, "OAT": oat / flt}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn: Callable[[], object], device: torch.device) -> float:
    _sync(device)
    t0 = time.perf_counter()
    out = fn()
    _sync(device)
    elapsed = time.perf_counter() - t0
    del out
    return elapsed


def _cpu_busy(interval: float = 0.5) -> float | None:
    """Fraction of all CPUs busy over ``interval`` seconds (from /proc/stat; None elsewhere)."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields), idle

    try:
        total0, idle0 = sample()
        time.sleep(interval)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    total = total1 - total0
    return None if total <= 0 else 1.0 - (idle1 - idle0) / total


def _build(arch: str, method: str, options: dict, num_classes: int, seed: int, device: torch.device):
    torch.manual_seed(seed)
    return build_network(arch, method, num_classes, **options).to(device)


def _round_robin(
    fns: dict[str, Callable[[], object]], warmup: int, repeats: int, device: torch.device
) -> dict[str, list[float]]:
    for _ in range(warmup):
        for fn in fns.values():
            _time(fn, device)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(_time(fn, device))
    return times


def bench_train_steps(args, device: torch.device, x: torch.Tensor, y: torch.Tensor) -> dict[str, list[float]]:
    settings = TrainSettings(
        batch_size=args.batch_size,
        attack_steps=args.train_steps,
        seed=args.seed,
        device=str(device),
        amp=args.amp,
        channels_last=args.channels_last,
    )
    scaler = make_scaler(settings)
    steps: dict[str, Callable[[], float]] = {}
    engines: dict[str, tuple[object, torch.optim.Optimizer]] = {}
    for label, method, options, sparsity in METHODS:
        if args.skip_sparse and label in SPARSE_LABELS:
            continue
        net = _build(args.arch, method, options, args.num_classes, args.seed, device)
        if args.channels_last:
            net = net.to(memory_format=torch.channels_last)
        optimizer = make_optimizer(net, settings)
        gen = torch.Generator().manual_seed(args.seed)  # CPU generator, as train_run uses
        engine = None
        if sparsity is not None:
            kind, density = sparsity
            engine = ENGINES[kind](net, density, generator=torch.Generator().manual_seed(args.seed))
            engines[label] = (engine, optimizer)

        def step(net=net, opt=optimizer, gen=gen, engine=engine):
            loss = train_step(net, opt, x, y, settings, gen, scaler=scaler)
            if engine is not None:
                engine.apply()  # as the training loop: Eq. 5 after every optimizer step
            return loss

        steps[label] = step
        if args.verbose:
            print(f"  built {label}: {count_params(net):,} parameters")
        if label == "FLOAT" and not args.skip_noise_ref:
            ref_net = _build(args.arch, method, options, args.num_classes, args.seed, device)
            if args.channels_last:
                ref_net = ref_net.to(memory_format=torch.channels_last)
            ref_opt = make_optimizer(ref_net, settings)
            ref_gen = torch.Generator().manual_seed(args.seed)

            def ref_step(net=ref_net, opt=ref_opt, gen=ref_gen):
                previous = set_noise_impl("reference")
                try:
                    return train_step(net, opt, x, y, settings, gen, scaler=scaler)
                finally:
                    set_noise_impl(previous)

            steps[NOISE_REF_LABEL] = ref_step
    times = _round_robin(steps, args.warmup, args.repeats, device)
    # the end-of-epoch prune / regrow, once per epoch (after the steps above filled the momenta)
    for label, (engine, optimizer) in engines.items():
        times[f"{label} prune/regrow"] = [
            _time(lambda e=engine, o=optimizer: e.prune_and_regrow(o, 0.5), device) for _ in range(3)
        ]
    return times


def bench_pgd20(args, device: torch.device, x: torch.Tensor, y: torch.Tensor, torchattacks) -> dict[str, list[float]]:
    eps = args.eps / 255.0
    step = pgd_step_size(eps, args.attack_steps)
    net = _build(args.arch, "float", {"dual_bn": True}, args.num_classes, args.seed, device)
    net.set_condition(1.0)
    net.eval()
    gen = torch.Generator(device=device).manual_seed(args.seed)
    ta_pgd = torchattacks.PGD(net, eps=eps, alpha=step, steps=args.attack_steps, random_start=True)
    impls = {
        "hwsim.pgd_attack": lambda: pgd_attack(
            net, x, y, eps=eps, steps=args.attack_steps, step_size=step, random_start=True, generator=gen
        ),
        "torchattacks.PGD": lambda: ta_pgd(x, y),
    }
    # sanity: both stay in the eps ball and [0, 1], and leave the model in eval mode
    for name, fn in impls.items():
        x_adv = fn()
        dev = float((x_adv - x).abs().max())
        if dev > eps + 1e-6 or float(x_adv.min()) < 0 or float(x_adv.max()) > 1:
            raise SystemExit(f"error: {name} left the eps ball or [0, 1] (max |delta| = {dev:.6f})")
        if any(m.training for m in net.modules()):
            raise SystemExit(f"error: {name} left the model in train mode")
    times = _round_robin(impls, args.warmup, args.repeats, device)
    if any(m.training for m in net.modules()):
        raise SystemExit("error: the model left eval mode during the PGD benchmark")
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--arch", default="resnet20", choices=sorted(ARCHS), help="backbone shared by all methods (default resnet20)"
    )
    parser.add_argument("--image-size", type=int, default=32, help="square input side (default 32)")
    parser.add_argument("--batch-size", type=int, default=64, help="images per batch for both parts (default 64)")
    parser.add_argument("--num-classes", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per method (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs per method (default 1)")
    parser.add_argument("--train-steps", type=int, default=7, help="PGD steps inside train_step (default 7)")
    parser.add_argument("--attack-steps", type=int, default=20, help="PGD steps of part 2 (default 20)")
    parser.add_argument("--eps", type=float, default=8.0, help="L_inf radius of part 2 in 1/255 (default 8)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="default cpu")
    parser.add_argument("--amp", action="store_true", help="CUDA mixed precision in part 1 (as hwsim train --amp)")
    parser.add_argument("--channels-last", action="store_true", help="NHWC layout in part 1")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: torch's); 1 is far steadier on a busy machine",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-sparse", action="store_true", help="part 1 without the FLOATS-i / FLOATS-c / slim rows")
    parser.add_argument(
        "--skip-noise-ref",
        action="store_true",
        help=f"part 1 without the '{NOISE_REF_LABEL}' row (FLOAT on the pre-issue-18 noise path)",
    )
    parser.add_argument(
        "--paper",
        action="store_true",
        help="the paper's Fig. 8(a) setting: --arch resnet34 --image-size 32 --batch-size 128 (overrides them)",
    )
    parser.add_argument(
        "--steps-per-epoch",
        type=int,
        default=391,
        help="steps of one epoch, to put prune/regrow per step (default 391: CIFAR-10 at batch 128)",
    )
    parser.add_argument("--skip-train", action="store_true", help="only part 2 (PGD-20)")
    parser.add_argument("--skip-attack", action="store_true", help="only part 1 (training steps)")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    if args.paper:
        args.arch, args.image_size, args.batch_size = "resnet34", 32, 128

    if args.batch_size < 2:
        parser.error("--batch-size must be >= 2 (FLOAT splits the batch into two halves)")
    if args.image_size < 1 or args.repeats < 1 or args.warmup < 0 or args.num_classes < 2:
        parser.error("--image-size and --repeats must be >= 1, --warmup >= 0, --num-classes >= 2")
    if args.train_steps < 1 or args.attack_steps < 1:
        parser.error("--train-steps and --attack-steps must be >= 1")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available")
    if args.amp and args.device != "cuda":
        parser.error("--amp needs --device cuda")
    torchattacks = None
    if not args.skip_attack:
        try:
            import torchattacks
        except ImportError:
            print(
                "error: part 2 compares against torchattacks: pip install torchattacks (or pass --skip-attack)",
                file=sys.stderr,
            )
            return 2
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    device = torch.device(args.device)
    gpu = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
    print(
        f"machine: {platform.system()} {platform.machine()}, os.cpu_count()={os.cpu_count()}, "
        f"torch threads={torch.get_num_threads()}, torch {torch.__version__}, "
        f"device={device}{gpu}" + (f", torchattacks {torchattacks.__version__}" if torchattacks is not None else "")
    )
    busy = _cpu_busy()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    line = "CPU busy before the run: " + (f"{100 * busy:.0f}% (0.5 s sample)" if busy is not None else "unknown")
    if load is not None:
        line += f", load average (1 min) {load:.2f}"
    if busy is not None and busy > 0.25 and device.type == "cpu":
        line += (
            "  WARNING: other processes are using the CPU; timings are inflated and noisy"
            " (--threads 1 avoids most of the thread contention)"
        )
    print(line)

    torch.manual_seed(args.seed)
    x = torch.rand(args.batch_size, 3, args.image_size, args.image_size).to(device)
    if args.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, args.num_classes, (args.batch_size,)).to(device)
    wall0 = time.perf_counter()

    if not args.skip_train:
        times = bench_train_steps(args, device, x, y)
        med = {name: statistics.median(ts) for name, ts in times.items()}
        print()
        print(
            f"train_step ({args.arch}, {args.image_size}x{args.image_size}, batch {args.batch_size}, "
            f"PGD-{args.train_steps} eps 8/255, SGD): median of {args.repeats} after "
            f"{args.warmup} warm-up, round-robin"
        )
        steps_only = [name for name in times if not name.endswith("prune/regrow")]
        print(f"{'method':<15} {'median s/step':>14} {'min s/step':>11} {'images/s':>9} {'x FLOAT':>8}")
        for name in steps_only:
            print(
                f"{name:<15} {med[name]:>14.4f} {min(times[name]):>11.4f} "
                f"{args.batch_size / med[name]:>9.1f} {med[name] / med['FLOAT']:>8.2f}"
            )
        print(
            f"per-epoch ratios (same batches per epoch): OAT/FLOAT {med['OAT'] / med['FLOAT']:.2f}x, "
            f"PGD-AT/FLOAT {med['PGD-AT'] / med['FLOAT']:.2f}x  (paper, Titan XP, ResNet34: 1.43x and 1.37x)"
            + (f"; amp {'bf16' if torch.cuda.is_bf16_supported() else 'fp16'}" if args.amp else "")
            + ("; channels_last" if args.channels_last else "")
        )
        expected = structural_ratios(args.batch_size, args.train_steps, TrainSettings().oat_lambdas)
        print(
            f"structural (conv passes only) expectation: OAT/FLOAT {expected['OAT']:.2f}x, "
            f"PGD-AT/FLOAT {expected['PGD-AT']:.2f}x"
        )
        if NOISE_REF_LABEL in med:
            print(
                f"noise path: FLOAT step on the reference noise / on the fast noise "
                f"{med[NOISE_REF_LABEL] / med['FLOAT']:.3f}x (same draws, same model, same batch)"
            )
        if not args.skip_sparse:
            print(
                f"FLOATS step / FLOAT step: FLOATS-i {med['FLOATS-i'] / med['FLOAT']:.2f}x, FLOATS-c "
                f"{med['FLOATS-c'] / med['FLOAT']:.2f}x (goal <= 1.1x); OAT slim / FLOAT slim "
                f"{med['OAT slim'] / med['FLOAT slim']:.2f}x (paper, GPU: 1.90x)"
            )
            for name in (n for n in times if n.endswith("prune/regrow")):
                label = name.removesuffix(" prune/regrow")
                per_step = med[name] / args.steps_per_epoch
                print(
                    f"{label} end-of-epoch prune/regrow: {med[name] * 1e3:.1f} ms (median of 3) = "
                    f"{per_step / med[label] * 100:.3f}% of a step over {args.steps_per_epoch} steps/epoch; "
                    f"step + share {(med[label] + per_step) / med['FLOAT']:.2f}x FLOAT"
                )

    if not args.skip_attack:
        times = bench_pgd20(args, device, x, y, torchattacks)
        ips = {name: args.batch_size / statistics.median(ts) for name, ts in times.items()}
        step = pgd_step_size(args.eps / 255.0, args.attack_steps)
        print()
        print(
            f"PGD-{args.attack_steps} eps={args.eps:g}/255 step={step * 255:.4f}/255 random start, "
            f"{args.arch} FLOAT at lambda=1 (eval mode), batch {args.batch_size}: "
            f"median of {args.repeats} after {args.warmup} warm-up, alternating"
        )
        print(f"{'implementation':<18} {'median s/batch':>15} {'min s/batch':>12} {'images/s':>9}")
        for name, ts in times.items():
            print(f"{name:<18} {statistics.median(ts):>15.4f} {min(ts):>12.4f} {ips[name]:>9.1f}")
        print(f"ratio hwsim/torchattacks (images/s): {ips['hwsim.pgd_attack'] / ips['torchattacks.PGD']:.3f}")

    load_after = f", load average (1 min) after: {os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else ""
    print(f"\ntotal benchmark time {time.perf_counter() - wall0:.1f} s{load_after}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
