"""The :class:`Method` protocol: everything that differs between PGD-AT, OAT, FLOAT (and what comes next).

A method is one object in one module. It says how the network is conditioned (which layers the
backbone gets, and what a lambda does to them), which condition an evaluation at a lambda means,
the training loss of one batch, the delay rule of the cost model (paper Eq. 7, 8 or 9) and which
extra ops it adds. Everything outside :mod:`hwsim.methods` asks the registry
(:func:`hwsim.methods.get_method`) and never compares a method name to a string.

This module and the registry are torch-free, so a cached ``hwsim estimate`` never imports torch;
the training and conditioning hooks import it when called.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from ..nets.conditioning import ConditionState

#: The parts a method plays in the paper's comparisons (Fig. 3-10, Table 1): FLOAT is ``proposed``
#: (FLOATS its sparse form, ``proposed_sparse``), OAT the ``film`` baseline, PGD-AT the ``at``
#: (adversarial-training) baseline.
PROPOSED, PROPOSED_SPARSE, FILM, AT = "proposed", "proposed_sparse", "film", "at"
ROLES = (PROPOSED, PROPOSED_SPARSE, FILM, AT)

Attack = Callable[..., "torch.Tensor"]  # attack(net, x, y) -> x_adv, run in eval mode by the runner


@dataclass(frozen=True)
class DelayTerms:
    """Per-row inputs of the delay equations, as (rows, 1) int64 columns (ready to broadcast
    against (1, specs) hardware arrays).

    ``weights`` is K = k^2 C_i C_o, ``outputs`` H_o W_o, ``film_channels`` the width of the FiLM that
    really follows the row (0 if none), ``out_channels`` C_o, ``noisy`` FLOAT's noisy-weight flag,
    ``is_conv`` the conv rows.

    Sparse layers (the spec's sparse handling, :class:`hwsim.costs.specgrid.SparseHandling`):
    ``read_bits`` is what the read term fetches per (row, group) when ``memory.sparse_reads`` is on
    (kept values + index words), else None (K x B_W, Eq. 7); ``mult_weights`` is what the multipliers
    run per output, the kept weights under ``compute.zero_skipping``, else K; ``dense_noise`` says
    FLOAT's noise covers pruned weights (``noise_on_pruned``), so a noisy layer's weights are dense
    again whenever noise is added.
    """

    weights: np.ndarray
    outputs: np.ndarray
    out_channels: np.ndarray
    film_channels: np.ndarray
    noisy: np.ndarray
    is_conv: np.ndarray
    read_bits: np.ndarray | None = None
    mult_weights: np.ndarray | None = None
    dense_noise: bool = True


@dataclass(frozen=True)
class Cycles:
    """Delay of each row and spec as whole cycles: ``reads`` memory reads (tau_read each) and
    ``mults`` multiply steps (tau_mult each). Exact integers; ns = reads tau_read + mults tau_mult."""

    reads: np.ndarray
    mults: np.ndarray


class Method:
    """Base of every training method. Subclass, set the class attributes, override the hooks.

    Class attributes:
        name: registry key, the ``method:`` value of a model YAML.
        label, color: how reports and plots show it.
        noisy_convs: FLOAT's convs (theta + lambda * alpha * eta, Eq. 4).
        film: OAT's FiLM after every conditioned BN.
        dual_bn_default: BN_C / BN_A pairs unless the model YAML says otherwise.
        allows_dual_bn: whether ``dual_bn: true`` is meaningful.
        has_lambda_n: inference knob lambda_n with threshold lambda_th (Eq. 6).
        single_lambda: trained at one fixed lambda: evaluated and reported only there.
        delay_rule: the paper equation of its conv delay, for output text.
        extra_ops: names of the op-count metrics it adds beyond MACs (not in MACs).
        sparse_kinds: the ``sparsity.kind`` values it trains and costs (``slim`` = slimmable widths,
            Yu et al. 2018; ``irregular`` / ``channel`` = FLOATS pruning); none by default.
        prunes: it prunes weights, so ``sparsity.density`` may be below 1 (FLOATS); the others
            accept only ``density: 1.0`` (a dense slimmable network).
        requires_sparsity: a model of this method must have a ``sparsity`` block.
        marker: its matplotlib marker in every plot.
        family: the method whose colour it is drawn in, shaded (FLOATS: FLOAT's); None: its own.
        family_shade: how much white is mixed into the family colour (:func:`hwsim.plotting.method_color`).
        label_shades: shades of the family colour per model label (FLOATS-i / -c / slim).
        role: its part in the paper's comparisons (:data:`ROLES`): the proposed method, the FiLM
            baseline, the adversarial-training baseline; figures and paper-check ask
            :func:`hwsim.methods.method_for_role`, never a method name. None: no part.
    """

    name: str = ""
    label: str = ""
    color: str = "tab:gray"
    noisy_convs: bool = False
    film: bool = False
    dual_bn_default: bool = False
    allows_dual_bn: bool = True
    has_lambda_n: bool = False
    single_lambda: bool = False
    delay_rule: str = "Eq. 7"
    extra_ops: tuple[str, ...] = ()
    sparse_kinds: tuple[str, ...] = ()
    prunes: bool = False
    requires_sparsity: bool = False
    marker: str = "o"
    family: str | None = None
    family_shade: float = 0.0
    label_shades: dict[str, float] = {}  # noqa: RUF012  (read-only class data)
    role: str | None = None

    # -- conditioning ---------------------------------------------------------------------------
    def condition(self, lam: float | torch.Tensor, lambda_th: float = 0.0) -> ConditionState:
        """What the conditional layers do at ``lam`` (base: nothing is conditional)."""
        from ..nets.conditioning import ConditionState

        return ConditionState(lam=lam if _is_tensor(lam) else float(lam))

    def noise_active(self, knob: float) -> bool:
        """Whether the costed condition adds weight noise (the cost model then charges Eq. 8)."""
        return False

    def threshold_matters(self, lam: float) -> bool:
        """Whether results at ``lam`` depend on lambda_th (a best checkpoint chosen at one
        threshold must then be evaluated at the same one)."""
        return False

    def eval_condition(self, lam: float, lambda_th: float) -> dict[str, Any]:
        """The model YAML ``eval:`` block that costs the network at ``lam``."""
        return {"lambda": lam, "lambda_th": lambda_th}

    def eval_lambdas(self, requested: list[float], fixed_lambda: float) -> list[float]:
        """The lambdas an evaluation visits: the requested ones, or the single trained one."""
        return [fixed_lambda] if self.single_lambda else list(requested)

    # -- cost model -----------------------------------------------------------------------------
    def cycles(self, terms: DelayTerms, hw: dict[str, np.ndarray], *, attribution: str, noise_active: bool) -> Cycles:
        """Delay cycles of every row (paper Eq. 7 unless overridden)."""
        from ..costs.delay import eq7_cycles

        return eq7_cycles(terms.weights, terms.outputs, hw, read_bits=terms.read_bits, mult_weights=terms.mult_weights)

    # -- training -------------------------------------------------------------------------------
    def training_loss(self, net, x, y, settings, generator, attack: Attack):  # pragma: no cover
        raise NotImplementedError(f"method {self.name!r} does not define a training step")

    def find_unused_parameters(self, settings) -> bool:
        """Whether DDP must look for parameters a step can leave idle."""
        return False

    def train_lambdas(self, settings) -> list[float] | None:
        """The lambdas training samples from (OAT's S_lambda, PGD-AT's fixed lambda); None when the
        method has no such set (FLOAT trains its two boundary conditions)."""
        return None

    def trained_lambdas(self, settings) -> list[float]:
        """The lambdas whose condition the training loss optimises: :meth:`train_lambdas`, else the
        two boundary conditions 0 and 1 (FLOAT's clean and noisy passes). A network at chance at one
        of them has collapsed (:func:`hwsim.runfiles.at_chance`)."""
        sampled = self.train_lambdas(settings)
        return [0.0, 1.0] if sampled is None else list(sampled)

    def __repr__(self) -> str:
        return f"<method {self.name}>"


def _is_tensor(value: Any) -> bool:
    return hasattr(value, "ndim") and not isinstance(value, (float, int))


def cross_entropy(logits, y):
    """Per-row cross-entropy in float32 (AMP-safe), the loss every method builds on."""
    import torch.nn.functional as F

    return F.cross_entropy(logits.float(), y, reduction="none")


def padded(head_rows: int, values):
    """Per-row loss with zeros for the first ``head_rows`` rows (rows that were not attacked)."""
    import torch

    return torch.cat([values.new_zeros(head_rows), values])
