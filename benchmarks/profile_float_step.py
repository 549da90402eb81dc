"""Where one training step's time goes (torch.profiler, CPU): FLOAT versus PGD-AT and OAT.

Runs ``hwsim.runner.train.train_step`` once untimed, then once under ``torch.profiler`` for each
method on the same batch, and prints the self CPU time of the operator groups a noisy conv costs:
the noise draw (``aten::normal_`` / ``randn``), the std (``aten::std`` / ``var``), the noise
arithmetic (mul / add / addcmul of the noisy weight), the convolutions (forward and backward) and
the rest, as fractions of the step. ``--noise-impl reference`` profiles the pre-issue-18 noise path.

Example::

    python benchmarks/profile_float_step.py --arch resnet34 --batch-size 32 --threads 2
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

try:
    from hwsim.nets import build_network
except ImportError:  # running from a checkout without installing the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from hwsim.nets import build_network
from hwsim.nets import conditioning
from hwsim.runner.train import TrainSettings, make_optimizer, train_step

GROUPS = {
    "noise draw": ("aten::normal_", "aten::randn", "aten::randn_like"),
    "std": ("aten::std", "aten::var", "aten::std_mean", "aten::var_mean"),
    "noise add/mul": ("aten::addcmul", "aten::mul", "aten::add", "aten::mul_", "aten::add_"),
    "conv fwd": ("aten::mkldnn_convolution", "aten::thnn_conv2d", "aten::_slow_conv2d_forward"),
    "conv bwd": ("aten::convolution_backward",),
}
METHODS = {"pgdat": {}, "oat": {"dual_bn": True, "film_dim": 1}, "float": {"dual_bn": True}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", default="resnet34")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--methods", default="pgdat,oat,float")
    p.add_argument("--noise-impl", default="fast", choices=["fast", "reference"])
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    conditioning.set_noise_impl(a.noise_impl)
    torch.manual_seed(a.seed)
    x = torch.rand(a.batch_size, 3, 32, 32)
    y = torch.randint(0, 10, (a.batch_size,))
    s = TrainSettings(batch_size=a.batch_size, attack_steps=7, seed=a.seed, device="cpu")
    print(f"{a.arch} 32x32 batch {a.batch_size}, torch threads {torch.get_num_threads()}, noise {a.noise_impl}")
    print(f"{'method':<7} {'step s':>7} " + " ".join(f"{g:>13}" for g in GROUPS) + f" {'other':>7}")
    for method in a.methods.split(","):
        torch.manual_seed(a.seed)
        net = build_network(a.arch, method, 10, **METHODS[method])
        opt = make_optimizer(net, s)
        gen = torch.Generator().manual_seed(a.seed)
        train_step(net, opt, x, y, s, gen)  # warm-up
        t0 = time.perf_counter()
        train_step(net, opt, x, y, s, gen)  # unprofiled wall time
        step = time.perf_counter() - t0
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            train_step(net, opt, x, y, s, gen)
        events = prof.key_averages()
        total = sum(e.self_cpu_time_total for e in events)
        shares = {g: sum(e.self_cpu_time_total for e in events if e.key in keys) / total for g, keys in GROUPS.items()}
        other = 1 - sum(shares.values())
        print(
            f"{method:<7} {step:>7.2f} "
            + " ".join(f"{100 * v:>12.1f}%" for v in shares.values())
            + f" {100 * other:>6.1f}%"
        )
        if method == "float":
            top = sorted(events, key=lambda e: -e.self_cpu_time_total)[:12]
            for e in top:
                print(f"    {e.key:<36} {e.self_cpu_time_total / 1e6:>7.3f} s  {e.count:>6} calls")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
