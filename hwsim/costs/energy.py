"""Energy per inference: the operations of the delay model (paper Eq. 7-9) priced in picojoules.

The paper models delay only (section 4.3); hwsim prices the same operations with the spec's
``energy`` section (:class:`hwsim.config.Energy`, pJ per operation). Every term mirrors a term of
Eq. 7-9, with ``K = k^2 C_i C_o`` weights, ``R = (B_IO / B_W) N_bank`` and ``F = 2 C_o + 4 C_o^2``:

=====================  ===============================================================================
weight reads           Eq. 7's read term: ``ceil(K B_W / (B_IO N_bank))`` read rounds, each reading all
                       ``N_bank`` banks: ``rounds x N_bank x read_pj``. The rounds are the delay's own
                       read cycles (:meth:`CostInputs.method_cycles`), so ``memory.sparse_reads`` and
                       Eq. 9's FiLM values (``ceil((K + F) / R)``) follow automatically.
MACs                   Eq. 7's multiply term, counted as operations (not cycles: idle multipliers
                       of a last partial step cost nothing): ``K H_o W_o`` multiplies and accumulate
                       adds, ``x (mult_pj + add_pj)``; with ``compute.zero_skipping`` the kept weights
                       (a FLOAT noisy layer with dense noise is dense again, as Eq. 8's cycles).
FLOAT noise            Eq. 8's extra multiply pass (the ``1 +`` of ``1 + H_o W_o``): one noise
                       scale-and-add per weight of a noisy layer, ``noise_add_ops x noise_pj``, when
                       the condition adds noise (lambda_n > 0); ``noise_on_pruned: false``: kept
                       weights only.
OAT FiLM MLP           Eq. 9's ``ceil(F / N_mult)`` multiply term: ``F`` multiply-accumulates (the FiLM
                       MLP Linear(1 -> 2C) + Linear(2C -> 2C) at film_dim 1, i.e. its film_linear
                       rows' MACs) on the convs the attribution picks, ``x (mult_pj + add_pj)``; its
                       ``F`` reads are in the read term above.
OAT FiLM modulation    not in Eq. 9: ``x * mu + sigma``, one multiply and one add per element of the
                       modulated map (``film_mod_ops / 2``), only with ``energy.film_modulation``.
activation traffic     outside the paper's weights-only model, a separate metric: every conv / linear
                       row reads its input map once and writes its output map once,
                       ``C_i H_i W_i x activation_read_pj + C_o H_o W_o x activation_write_pj``.
=====================  ===============================================================================

FiLM linear rows get 0 (their cost is the FiLM term on the conv they modulate, as for the delay).
All functions are pure numpy and broadcast (rows, 1) operation counts against (1, specs) energies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import compute
from .delay import film_values


@dataclass(frozen=True)
class EnergyOps:
    """Operation counts per row, (rows, 1) float64 (exact integers): what the energies multiply.

    ``macs`` multiply-accumulates of the row's own weights, ``noise`` FLOAT noise scale-and-adds,
    ``film_macs`` Eq. 9's FiLM MLP multiply-accumulates, ``film_mod`` modulated elements (0 unless
    ``film_modulation``)."""

    macs: np.ndarray
    noise: np.ndarray
    film_macs: np.ndarray
    film_mod: np.ndarray


def read_energy(read_rounds, n_banks, read_pj):
    """Eq. 7-9's read term in pJ: ``read_rounds`` (the read cycles, ``ceil(K B_W / (B_IO N_bank))``
    or Eq. 9's ``ceil((K + F) / R)``) x ``n_banks`` bank reads x ``read_pj`` each."""
    return np.asarray(read_rounds, np.float64) * n_banks * read_pj


def mac_energy(macs, mult_pj, add_pj):
    """Eq. 7's multiply term in pJ, as operations: one multiply and one accumulate add per MAC."""
    return np.asarray(macs, np.float64) * (mult_pj + add_pj)


def noise_energy(noise_ops, noise_pj):
    """Eq. 8's extra pass in pJ: one noise scale-and-add (``noise_pj``) per noisy weight."""
    return np.asarray(noise_ops, np.float64) * noise_pj


def film_modulation_energy(elements, mult_pj, add_pj):
    """OAT's FiLM modulation ``x * mu + sigma`` in pJ (not in Eq. 9): a multiply and an add per element."""
    return np.asarray(elements, np.float64) * (mult_pj + add_pj)


def activation_energy(in_elements, out_elements, activation_read_pj, activation_write_pj):
    """Activation traffic in pJ (outside the paper's model): input elements read, output elements written."""
    return (
        np.asarray(in_elements, np.float64) * activation_read_pj
        + np.asarray(out_elements, np.float64) * activation_write_pj
    )


def energy_ops(
    rows, terms, method, *, attribution: str, noise_active: bool, noise_on_pruned: bool, film_modulation: bool
) -> EnergyOps:
    """The operation counts of :class:`EnergyOps` per row for ``method`` (its ``noisy_convs`` and
    ``film`` flags decide which extras it pays), following the delay model's rules: the MACs the
    multipliers run (``terms.mult_weights`` under zero skipping), FLOAT's noise on its noisy rows when
    ``noise_active``, OAT's FiLM ``F`` on the convs ``attribution`` picks (as Eq. 9's cycles)."""
    noisy = terms.noisy & bool(method.noisy_convs and noise_active)
    per_output = terms.weights if terms.mult_weights is None else terms.mult_weights
    if terms.mult_weights is not None and terms.dense_noise:  # dense noise fills the pruned zeros
        per_output = np.where(noisy, terms.weights, per_output)
    macs = (per_output * terms.outputs).astype(np.float64)
    noise = np.where(noisy[:, 0], compute.noise_add_ops(rows, dense=noise_on_pruned), 0)[:, None]
    zero = np.zeros_like(macs)
    if method.film:
        film_c = np.where(terms.is_conv, terms.out_channels, 0) if attribution == "paper" else terms.film_channels
        film_macs = film_values(film_c).astype(np.float64)
        film_mod = (compute.film_modulation_ops(rows) // 2)[:, None] if film_modulation else zero
    else:
        film_macs = film_mod = zero
    return EnergyOps(macs, noise.astype(np.float64), film_macs, np.asarray(film_mod, np.float64))


def compute_energy(ops: EnergyOps, hw: dict) -> np.ndarray:
    """Everything but the reads, in pJ, (rows, specs): MACs, noise, FiLM MLP and modulation."""
    mult, add = hw["mult_pj"], hw["add_pj"]
    return (
        mac_energy(ops.macs + ops.film_macs, mult, add)
        + film_modulation_energy(ops.film_mod, mult, add)
        + noise_energy(ops.noise, hw["noise_pj"])
    )


def compute_energy_total(ops: EnergyOps, weights: np.ndarray, hw: dict) -> np.ndarray:
    """:func:`compute_energy` summed over rows with multiplicities ``weights``, (specs,): the counts
    are summed first (exact integers), then priced once per spec."""
    w = weights.astype(np.float64)
    mac = (hw["mult_pj"] + hw["add_pj"])[0]
    return (w @ (ops.macs + ops.film_macs + ops.film_mod))[0] * mac + (w @ ops.noise)[0] * hw["noise_pj"][0]


def activation_elements(rows) -> tuple[np.ndarray, np.ndarray]:
    """(input, output) activation elements per row, (rows, 1): ``C_i H_i W_i`` and ``C_o H_o W_o``."""
    col = lambda name: np.asarray(rows[name], np.int64)  # noqa: E731
    inputs = col("in_channels") * col("in_h") * col("in_w")
    outputs = col("out_channels") * col("out_h") * col("out_w")
    return inputs[:, None].astype(np.float64), outputs[:, None].astype(np.float64)


__all__ = [
    "EnergyOps",
    "activation_elements",
    "activation_energy",
    "compute_energy",
    "compute_energy_total",
    "energy_ops",
    "film_modulation_energy",
    "mac_energy",
    "noise_energy",
    "read_energy",
]
