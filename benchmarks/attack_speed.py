"""PGD speed: hwsim's ``pgd_attack`` versus ``torchattacks.PGD`` on the same model and batch.

Builds a small CIFAR-like ResNet-ish CNN (4 convolutions, batch norm, 32x32 input, 10 classes),
draws one random batch, and times PGD-k (default PGD-20, eps 8/255, OAT step size, random start) for
both implementations in the same run: warm-up runs first, then timed runs alternating between the two
implementations, reporting the median. The model is put in eval mode beforehand because
``torchattacks`` switches to eval mode during its attack anyway, so both run the same computation.

Example::

    python benchmarks/attack_speed.py                 # defaults: < 60 s on 2 CPU cores
    python benchmarks/attack_speed.py --batch 128 --width 32 --repeats 7 --device cuda
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

try:
    from hwsim.runner.attacks import pgd_attack, pgd_step_size
except ImportError:  # running from a checkout without installing the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from hwsim.runner.attacks import pgd_attack, pgd_step_size


class _Block(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(x + self.bn2(self.conv2(out)))


class SmallResNet(nn.Module):
    """stem conv -> residual block (2 convs) -> strided conv -> global pool -> linear: 4 convs."""

    def __init__(self, width: int = 16, n_classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU())
        self.block = _Block(width)
        self.down = nn.Sequential(nn.Conv2d(width, 2 * width, 3, stride=2, padding=1, bias=False),
                                  nn.BatchNorm2d(2 * width), nn.ReLU())
        self.fc = nn.Linear(2 * width, n_classes)

    def forward(self, x):
        x = self.down(self.block(self.stem(x)))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn, device: torch.device) -> float:
    _sync(device)
    t0 = time.perf_counter()
    out = fn()
    _sync(device)
    elapsed = time.perf_counter() - t0
    del out
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64, help="images per batch (default 64)")
    parser.add_argument("--width", type=int, default=16, help="channels of the first conv (default 16)")
    parser.add_argument("--steps", type=int, default=20, help="PGD steps (default 20)")
    parser.add_argument("--eps", type=float, default=8.0, help="L_inf radius in 1/255 units (default 8)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs per implementation")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per implementation")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:i] (default cpu)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    try:
        import torchattacks
    except ImportError:
        print("error: this benchmark compares against torchattacks: pip install torchattacks",
              file=sys.stderr)
        return 2
    if args.batch < 1 or args.steps < 1 or args.repeats < 1 or args.warmup < 0:
        parser.error("--batch, --steps and --repeats must be >= 1, --warmup >= 0")
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    eps = args.eps / 255.0
    step = pgd_step_size(eps, args.steps)
    model = SmallResNet(args.width).to(device).eval()
    x = torch.rand(args.batch, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (args.batch,), device=device)

    gen = torch.Generator(device=device).manual_seed(args.seed)
    ta_pgd = torchattacks.PGD(model, eps=eps, alpha=step, steps=args.steps, random_start=True)
    impls = {
        "hwsim.pgd_attack": lambda: pgd_attack(model, x, y, eps=eps, steps=args.steps,
                                               step_size=step, generator=gen),
        "torchattacks.PGD": lambda: ta_pgd(x, y),
    }

    # sanity: both stay in the eps ball and [0, 1]
    for name, fn in impls.items():
        x_adv = fn()
        dev = float((x_adv - x).abs().max())
        if dev > eps + 1e-6 or float(x_adv.min()) < 0 or float(x_adv.max()) > 1:
            print(f"error: {name} left the eps ball or [0, 1] (max |delta| = {dev:.6f})",
                  file=sys.stderr)
            return 1

    for _ in range(args.warmup):
        for fn in impls.values():
            _time(fn, device)
    times: dict[str, list[float]] = {name: [] for name in impls}
    for _ in range(args.repeats):  # alternate so that load drift hits both alike
        for name, fn in impls.items():
            times[name].append(_time(fn, device))

    ips = {name: args.batch / statistics.median(ts) for name, ts in times.items()}
    print(f"PGD-{args.steps} eps={args.eps:g}/255 step={step * 255:.4f}/255  batch={args.batch} "
          f"32x32 SmallResNet(width={args.width})  device={device} "
          f"threads={torch.get_num_threads()}  torch {torch.__version__}  "
          f"torchattacks {torchattacks.__version__}  median of {args.repeats} after {args.warmup} warm-up")
    print(f"{'implementation':<20} {'median s/batch':>15} {'min s/batch':>12} {'images/s':>10}")
    for name, ts in times.items():
        print(f"{name:<20} {statistics.median(ts):>15.4f} {min(ts):>12.4f} {ips[name]:>10.1f}")
    ratio = ips["hwsim.pgd_attack"] / ips["torchattacks.PGD"]
    print(f"{'ratio hwsim/torchattacks (images/s)':<49} {ratio:>10.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
