"""L_inf adversarial attacks used by the training/evaluation runner (FLOAT / OAT settings).

Inputs are images in ``[0, 1]`` of shape ``N x C x H x W`` with no normalisation; labels are class
indices of shape ``N``. Every attack returns *detached* adversarial images of the same shape, within
the ``eps`` L_inf ball around the clean images and within ``[0, 1]``.

Model mode
    The caller sets the model's conditioning (FLOAT weight noise, OAT/FLOAT batch-norm choice,
    lambda) *before* calling an attack; that conditioning must not depend on train/eval mode.
    :func:`pgd_attack` and :func:`fgsm_attack` never call ``model.train()`` / ``model.eval()``: they run
    the model in whatever mode the caller left it (note that plain batch-norm layers in training mode
    use batch statistics and update their running statistics on every forward pass).
    :func:`autoattack_rand` uses ``torchattacks.APGD``, which switches the whole model to **eval mode**
    while it attacks; afterwards this module restores every submodule's ``training`` flag exactly as
    the caller had it.

Gradients
    Gradients are taken with :func:`torch.autograd.grad` with respect to the input only, so model
    parameters' ``.grad`` fields are never touched. Attacks work under an outer ``torch.no_grad()``
    (they enable gradients locally), but not on tensors created under ``torch.inference_mode()``.

Randomness
    :func:`pgd_attack` draws its random start from ``generator`` (or the global RNG when it is None).
    The registry entries (:data:`ATTACKS`, :func:`run_attack`), :func:`autoattack_rand` and
    :func:`robust_accuracy` fork the global torch RNG and seed it with ``seed``, so a model that draws
    random noise in its forward pass (FLOAT's noisy weights) gives the same adversarial examples for
    the same seed on CPU, and the caller's global RNG state is left untouched.

Step size
    PGD uses the OAT reference rule (Wang et al. 2020, ``attacks/pgd.py``):
    ``alpha = min(1.25 * eps, eps + 4/255) / steps`` with a summed cross-entropy loss; PGD-20 uses the
    same rule with 20 steps (eps 8/255, random start), as PGD-7 does with 7.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import MappingProxyType

import torch
import torch.nn.functional as F
from torch import nn

from hwsim.errors import HwsimError

__all__ = [
    "ATTACKS",
    "AttackFn",
    "Phases",
    "autoattack_rand",
    "batch_correct",
    "fgsm_attack",
    "pgd_attack",
    "pgd_step_size",
    "robust_accuracy",
    "run_attack",
    "seeded_rng",
]

#: Signature of a registry entry: ``fn(model, x, y, *, eps, seed) -> x_adv``.
AttackFn = Callable[..., torch.Tensor]


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------


def _check_eps(eps: float) -> float:
    eps = float(eps)
    if not math.isfinite(eps) or eps < 0:
        raise HwsimError(f"attack eps must be a finite number >= 0, got {eps!r}")
    return eps


def _check_inputs(x: torch.Tensor, y: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() < 2:
        raise HwsimError("attack input x must be a tensor of shape N x C x H x W (or N x D)")
    if not isinstance(y, torch.Tensor) or y.dim() != 1 or y.shape[0] != x.shape[0]:
        raise HwsimError(
            f"attack labels y must be a 1-D tensor with one label per image "
            f"(x has {x.shape[0]} images, y has shape {tuple(getattr(y, 'shape', ()))})"
        )


def _project(x_adv: torch.Tensor, x: torch.Tensor, eps: float) -> torch.Tensor:
    """Project onto the L_inf ball of radius ``eps`` around ``x`` and clip to ``[0, 1]``."""
    return torch.min(torch.max(x_adv, x - eps), x + eps).clamp_(0.0, 1.0)


def _input_grad(model: Callable[[torch.Tensor], torch.Tensor], x_adv: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Gradient of the summed cross-entropy w.r.t. the input only (no parameter .grad touched)."""
    x_adv = x_adv.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = F.cross_entropy(model(x_adv), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, [x_adv])
    return grad.detach()


def _rng_devices(device: torch.device) -> list[int]:
    if device.type == "cuda":
        return [device.index if device.index is not None else torch.cuda.current_device()]
    return []


@contextlib.contextmanager
def seeded_rng(seed: int, device: torch.device | str) -> Iterator[None]:
    """Fork the global torch RNG (CPU, and ``device`` if CUDA), seed it, restore it afterwards."""
    with torch.random.fork_rng(devices=_rng_devices(torch.device(device))):
        torch.manual_seed(int(seed))
        yield


_seeded_rng = seeded_rng


def _training_flags(model: nn.Module) -> list[tuple[nn.Module, bool]]:
    return [(m, m.training) for m in model.modules()]


def _restore_training_flags(flags: list[tuple[nn.Module, bool]]) -> None:
    for module, training in flags:
        module.training = training


def _make_generator(seed: int, device: torch.device) -> torch.Generator:
    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed))
    return gen


# --------------------------------------------------------------------------------------------------
# PGD / FGSM
# --------------------------------------------------------------------------------------------------


def pgd_step_size(eps: float, steps: int) -> float:
    """OAT reference step size: ``min(1.25 * eps, eps + 4/255) / steps``.

    For ``eps = 8/255`` and ``steps = 7`` this is ``(10/255) / 7``.
    """
    eps = _check_eps(eps)
    if int(steps) != steps or steps < 1:
        raise HwsimError(f"PGD steps must be an integer >= 1, got {steps!r}")
    return min(1.25 * eps, eps + 4.0 / 255.0) / int(steps)


def pgd_attack(
    model: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float = 8 / 255,
    steps: int = 7,
    step_size: float | None = None,
    random_start: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """PGD-k (Madry et al.) under the L_inf threat model.

    Starts from a uniform random point in the ``eps`` ball (drawn from ``generator``; the global RNG
    when None) when ``random_start``, then takes ``steps`` steps
    ``x_adv <- clip_[0,1](proj_eps(x_adv + step_size * sign(grad CE)))``. ``step_size`` defaults to
    :func:`pgd_step_size`. The model runs in the mode the caller left it in. Returns detached images.
    """
    _check_inputs(x, y)
    eps = _check_eps(eps)
    if step_size is None:
        step_size = pgd_step_size(eps, steps)
    elif int(steps) != steps or steps < 1:
        raise HwsimError(f"PGD steps must be an integer >= 1, got {steps!r}")
    step_size = float(step_size)

    x = x.detach()
    y = y.detach()
    if random_start:
        gen_device = generator.device if generator is not None else x.device
        noise = torch.rand(x.shape, generator=generator, device=gen_device, dtype=x.dtype)
        x_adv = (x + (2.0 * noise.to(x.device) - 1.0) * eps).clamp_(0.0, 1.0)
    else:
        x_adv = x.clone()

    for _ in range(int(steps)):
        grad = _input_grad(model, x_adv, y)
        x_adv = _project(x_adv + step_size * grad.sign(), x, eps)
    return x_adv.detach()


def fgsm_attack(
    model: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float = 8 / 255,
) -> torch.Tensor:
    """FGSM: one step of size ``eps`` along ``sign(grad CE)`` from the clean point, clipped to [0, 1]."""
    _check_inputs(x, y)
    eps = _check_eps(eps)
    x = x.detach()
    grad = _input_grad(model, x, y.detach())
    return (x + eps * grad.sign()).clamp_(0.0, 1.0).detach()


# --------------------------------------------------------------------------------------------------
# AutoAttack, 'rand' version
# --------------------------------------------------------------------------------------------------


@torch.no_grad()
def _logits(model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch_size: int | None) -> torch.Tensor:
    if batch_size is None or x.shape[0] <= batch_size:
        out = model(x)
    else:
        out = torch.cat([model(x[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)])
    if out.dim() != 2:
        raise HwsimError(f"model must return N x classes logits, got shape {tuple(out.shape)}")
    return out


def _predict(model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch_size: int | None) -> torch.Tensor:
    return _logits(model, x, batch_size).argmax(dim=1)


def _apgd_chunks(apgd, x: torch.Tensor, y: torch.Tensor, batch_size: int | None) -> torch.Tensor:
    if batch_size is None or x.shape[0] <= batch_size:
        return apgd(x, y).detach()
    return torch.cat(
        [apgd(x[i : i + batch_size], y[i : i + batch_size]).detach() for i in range(0, x.shape[0], batch_size)]
    )


def autoattack_rand(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float = 8 / 255,
    n_iter: int = 100,
    eot_iter: int = 20,
    n_restarts: int = 1,
    seed: int = 0,
    batch_size: int | None = None,
) -> torch.Tensor:
    """AutoAttack 'rand' version (Croce & Hein 2020) composed from ``torchattacks.APGD``.

    As in the original ``AutoAttack(version='rand')``: only points classified correctly on the clean
    input are attacked; APGD-CE (``n_iter`` steps, ``eot_iter`` EOT samples, ``n_restarts`` restarts,
    rho 0.75) runs on them; APGD-DLR runs on the points still robust afterwards. A point counts as
    broken only if the model misclassifies the returned adversarial image when re-evaluated (this
    matters for randomised models), and only broken points get their adversarial image; every other
    point, including points misclassified on clean input, is returned as its clean image.

    The DLR loss needs at least 3 classes; with fewer classes only APGD-CE runs and a
    :class:`UserWarning` says so.

    ``torchattacks.APGD`` switches the model to eval mode while it attacks (and reseeds the global
    torch RNG with ``seed`` on every call); the clean check and re-evaluations run in the caller's
    mode. Every submodule's ``training`` flag and the caller's global RNG state are restored before
    returning. ``batch_size`` (None: the whole batch at once) splits the work into chunks.
    """
    _check_inputs(x, y)
    eps = _check_eps(eps)
    for name, value in (("n_iter", n_iter), ("eot_iter", eot_iter), ("n_restarts", n_restarts)):
        if int(value) != value or value < 1:
            raise HwsimError(f"autoattack {name} must be an integer >= 1, got {value!r}")
    if batch_size is not None and (int(batch_size) != batch_size or batch_size < 1):
        raise HwsimError(f"autoattack batch_size must be an integer >= 1 or None, got {batch_size!r}")
    if not isinstance(model, nn.Module):
        raise HwsimError("autoattack needs the model to be a torch.nn.Module (torchattacks requires it)")
    try:
        import torchattacks
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise HwsimError("autoattack needs the 'torchattacks' package: pip install torchattacks") from exc

    x = x.detach()
    y = y.detach()
    flags = _training_flags(model)
    try:
        with _seeded_rng(seed, x.device):
            x_adv = x.clone()
            clean_logits = _logits(model, x, batch_size)
            n_classes = int(clean_logits.shape[1])
            robust = clean_logits.argmax(dim=1) == y
            if not bool(robust.any()):
                return x_adv
            losses = ["ce", "dlr"] if n_classes >= 3 else ["ce"]
            if n_classes < 3:
                warnings.warn(
                    f"autoattack: the model has {n_classes} classes, APGD-DLR needs >= 3; running APGD-CE only",
                    UserWarning,
                    stacklevel=2,
                )
            for loss in losses:
                idx = robust.nonzero().flatten()
                if idx.numel() == 0:
                    break
                apgd = torchattacks.APGD(
                    model,
                    norm="Linf",
                    eps=eps,
                    steps=int(n_iter),
                    n_restarts=int(n_restarts),
                    seed=int(seed),
                    loss=loss,
                    eot_iter=int(eot_iter),
                    rho=0.75,
                )
                apgd.set_device(x.device)
                adv_curr = _apgd_chunks(apgd, x[idx], y[idx], batch_size)
                _restore_training_flags(flags)  # re-evaluate in the caller's mode
                broken = _predict(model, adv_curr, batch_size) != y[idx]
                robust[idx[broken]] = False
                x_adv[idx[broken]] = adv_curr[broken]
            return x_adv.detach()
    finally:
        _restore_training_flags(flags)


# --------------------------------------------------------------------------------------------------
# registry
# --------------------------------------------------------------------------------------------------


def _pgd_entry(steps: int) -> AttackFn:
    def attack(model, x, y, *, eps: float = 8 / 255, seed: int = 0) -> torch.Tensor:
        with _seeded_rng(seed, x.device):
            gen = _make_generator(seed, x.device)
            return pgd_attack(
                model, x, y, eps=eps, steps=steps, step_size=pgd_step_size(eps, steps), random_start=True, generator=gen
            )

    attack.__name__ = f"pgd{steps}"
    attack.__doc__ = f"PGD-{steps}, OAT step size, uniform random start seeded with ``seed``."
    return attack


def _fgsm_entry(model, x, y, *, eps: float = 8 / 255, seed: int = 0) -> torch.Tensor:
    """FGSM; ``seed`` only fixes the global RNG for models that draw noise in forward."""
    with _seeded_rng(seed, x.device):
        return fgsm_attack(model, x, y, eps=eps)


def _autoattack_entry(model, x, y, *, eps: float = 8 / 255, seed: int = 0) -> torch.Tensor:
    """AutoAttack 'rand' (APGD-CE + APGD-DLR, 100 iterations, EOT 20)."""
    return autoattack_rand(model, x, y, eps=eps, seed=seed)


#: Attack name -> ``fn(model, x, y, *, eps, seed) -> x_adv`` (read-only).
ATTACKS: Mapping[str, AttackFn] = MappingProxyType(
    {
        "pgd7": _pgd_entry(7),
        "pgd20": _pgd_entry(20),
        "fgsm": _fgsm_entry,
        "autoattack": _autoattack_entry,
    }
)


def _lookup(name: str) -> AttackFn:
    try:
        return ATTACKS[name]
    except (KeyError, TypeError):
        raise HwsimError(f"unknown attack {name!r}; known attacks: {', '.join(sorted(ATTACKS))}") from None


def run_attack(name: str, model, x: torch.Tensor, y: torch.Tensor, eps: float = 8 / 255, seed: int = 0) -> torch.Tensor:
    """Run the registered attack ``name`` (see :data:`ATTACKS`); unknown names raise HwsimError."""
    return _lookup(name)(model, x, y, eps=eps, seed=seed)


# --------------------------------------------------------------------------------------------------
# evaluation
# --------------------------------------------------------------------------------------------------


#: ``phases(name)`` -> a context manager around the attack (``"attack"``) and around the forward that
#: scores the adversarial images (``"robust"``); see :func:`batch_correct`.
Phases = Callable[[str], contextlib.AbstractContextManager]


def batch_correct(
    model, x: torch.Tensor, y: torch.Tensor, attack_name: str, *, eps: float = 8 / 255, seed: int = 0,
    phases: Phases | None = None,
) -> tuple[int, int]:  # fmt: skip
    """``(clean correct, robust correct)`` counts of one batch, attacked with ``attack_name``.

    The clean pass and the attack run on a forked global RNG seeded with ``seed``, so a batch's
    numbers depend only on the batch and its seed: not on the batches before it, nor on how the
    batches are shared out (the trainer splits them over DDP ranks).

    ``phases`` (None: the model as the caller conditioned it, for all three): the attack runs inside
    ``phases("attack")`` and the scoring forward of the adversarial images inside ``phases("robust")``;
    the clean forward never does. FLOAT_v2's evaluation conditions them differently from the clean pass
    (:func:`hwsim.runner.train.eval_attack_phases`).
    """
    fn = _lookup(attack_name)
    phase = phases if phases is not None else (lambda _name: contextlib.nullcontext())
    with _seeded_rng(seed, x.device):
        with torch.no_grad():
            clean = int((model(x).argmax(dim=1) == y).sum())
        with phase("attack"):
            x_adv = fn(model, x, y, eps=eps, seed=seed)
        with torch.no_grad(), phase("robust"):
            robust = int((model(x_adv).argmax(dim=1) == y).sum())
    return clean, robust


def robust_accuracy(
    model,
    loader_or_batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    attack_name: str,
    *,
    eps: float = 8 / 255,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = False,
    phases: Phases | None = None,
) -> tuple[float, float]:
    """Return ``(clean accuracy %, robust accuracy %)`` of ``model`` over ``(x, y)`` batches.

    Batch ``i`` is evaluated by :func:`batch_correct` with seed ``seed + i``; robust accuracy is the
    accuracy on the returned adversarial images. The model runs in the caller's mode (call
    ``model.eval()`` first for the usual evaluation; autoattack runs APGD in eval mode regardless).
    Every batch runs on a forked, seeded global RNG, so the evaluation is reproducible for models
    with random forward passes and leaves the caller's RNG state untouched. A tqdm progress bar is
    shown when ``progress`` is True. ``phases``: see :func:`batch_correct`.
    """
    from tqdm.auto import tqdm

    _lookup(attack_name)
    eps = _check_eps(eps)
    device = torch.device(device)
    try:
        total_batches = len(loader_or_batches)  # type: ignore[arg-type]
    except TypeError:
        total_batches = None

    n = clean_correct = robust_correct = 0
    bar = tqdm(
        loader_or_batches,
        total=total_batches,
        disable=not progress,
        desc=f"{attack_name} eps={eps * 255:g}/255",
        unit="batch",
        leave=False,
    )
    try:
        for i, batch in enumerate(bar):
            x, y = batch[0].to(device), batch[1].to(device)
            clean, robust = batch_correct(model, x, y, attack_name, eps=eps, seed=seed + i, phases=phases)
            clean_correct, robust_correct, n = clean_correct + clean, robust_correct + robust, n + int(y.shape[0])
            bar.set_postfix(clean=f"{100.0 * clean_correct / n:.1f}%", robust=f"{100.0 * robust_correct / n:.1f}%")
    finally:
        bar.close()
    if n == 0:
        raise HwsimError("robust_accuracy: the data loader yielded no images")
    return 100.0 * clean_correct / n, 100.0 * robust_correct / n
