"""Von-Neumann ASIC layer delay, paper Eq. 7 (baseline), Eq. 8 (FLOAT) and Eq. 9 (OAT).

Memory reads and multiplies are sequential (Ali et al. 2020; Kang et al. 2018). With
``K = k^2 C_i C_o`` weights, ``R = (B_IO / B_W) N_bank`` weights per read and ``F = 2 C_o + 4 C_o^2``
FiLM values:

* Eq. 7  ``ceil(K / R) tau_read + ceil(K / N_mult) H_o W_o tau_mult``
* Eq. 8  ``ceil(K / R) tau_read + ceil(K / N_mult) (1 + H_o W_o) tau_mult``  (FLOAT at lambda = 1)
* Eq. 9  ``ceil((K + F) / R) tau_read + ceil(K / N_mult) H_o W_o tau_mult + ceil(F / N_mult) tau_mult``

All functions broadcast: pass layer columns shaped (L, 1) and hardware values shaped (1, H) to get an
(L, H) grid. Ceilings are computed in exact integer arithmetic (``ceil(K B_W / (B_IO N_bank))``), so
results never depend on float rounding.

Eq. 9's FiLM term needs a rule for *which* convs carry it, named in every output:

* ``paper``: every conv layer pays it with its own C_o, as Fig. 8(c) appears to do (the "up to 1.66x"
  comes from a 1 x 1 shortcut conv, which has no FiLM in the real network);
* ``structural``: only the convs a FiLM actually follows, with that FiLM's width.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from ..config import HardwareSpec

Attribution = Literal["paper", "structural"]
ATTRIBUTIONS: tuple[str, ...] = ("paper", "structural")


def _ceil_div(num, den):
    num, den = np.asarray(num, dtype=np.int64), np.asarray(den, dtype=np.int64)
    return -(-num // den)


def read_cycles(values, io_bandwidth_bits, weight_bits, n_banks):
    """ceil(values / ((B_IO / B_W) N_bank)), exactly."""
    return _ceil_div(np.asarray(values, np.int64) * weight_bits, np.asarray(io_bandwidth_bits, np.int64) * n_banks)


def film_values(c_out):
    """F = 2 C_o + 4 C_o^2, the FiLM read/multiply count of Eq. 9."""
    c = np.asarray(c_out, dtype=np.int64)
    return 2 * c + 4 * c * c


def _hw(hw: dict) -> tuple:
    return (hw["tau_read_ns"], hw["tau_mult_ns"], hw["io_bandwidth_bits"], hw["weight_bits"], hw["n_banks"], hw["n_multipliers"])


def delay_eq7(weights, outputs, **hw):
    """Paper Eq. 7, baseline conv delay in ns.

    ``weights`` is K = k^2 C_i C_o, ``outputs`` is H_o W_o; ``hw`` holds the HardwareSpec fields
    (tau_read_ns, tau_mult_ns, io_bandwidth_bits, weight_bits, n_banks, n_multipliers).
    """
    tau_read, tau_mult, b_io, b_w, n_bank, n_mult = _hw(hw)
    reads = read_cycles(weights, b_io, b_w, n_bank)
    return reads * tau_read + _ceil_div(weights, n_mult) * np.asarray(outputs, np.int64) * tau_mult


def delay_eq8(weights, outputs, **hw):
    """Paper Eq. 8, FLOAT conv delay at lambda = 1: the multiply term runs (1 + H_o W_o) times."""
    return delay_eq7(weights, np.asarray(outputs, np.int64) + 1, **hw)


def delay_eq9(weights, outputs, film_c_out, **hw):
    """Paper Eq. 9, OAT conv delay with a FiLM of width ``film_c_out`` (0 gives Eq. 7)."""
    tau_read, tau_mult, b_io, b_w, n_bank, n_mult = _hw(hw)
    film = film_values(film_c_out)
    reads = read_cycles(np.asarray(weights, np.int64) + film, b_io, b_w, n_bank)
    mults = _ceil_div(weights, n_mult) * np.asarray(outputs, np.int64) + _ceil_div(film, n_mult)
    return reads * tau_read + mults * tau_mult


def hardware_arrays(specs: HardwareSpec | list[HardwareSpec]) -> dict[str, np.ndarray]:
    """Hardware parameters as (1, H) arrays, ready to broadcast against (L, 1) layer columns."""
    specs = [specs] if isinstance(specs, HardwareSpec) else list(specs)
    keys = ("tau_read_ns", "tau_mult_ns", "io_bandwidth_bits", "weight_bits", "n_banks", "n_multipliers")
    return {
        key: np.array([[getattr(s, key) for s in specs]], dtype=np.float64 if key.startswith("tau") else np.int64)
        for key in keys
    }


def layer_delays(
    table: pd.DataFrame,
    specs: HardwareSpec | list[HardwareSpec],
    method: str,
    *,
    attribution: Attribution = "paper",
    noise_active: bool = True,
) -> dict[str, np.ndarray]:
    """Delay per row and hardware point, in ns, shaped (L, H).

    Returns ``delay_base_ns`` (Eq. 7 for every conv / linear row) and ``delay_ns`` for ``method``:
    ``pgdat`` Eq. 7; ``float`` Eq. 8 on noisy layers when ``noise_active`` (lambda > 0), else Eq. 7;
    ``oat`` Eq. 9 with the FiLM term placed by ``attribution``. FiLM linear rows get 0: their cost
    is Eq. 9's FiLM term on the conv they modulate.
    """
    if attribution not in ATTRIBUTIONS:
        raise ValueError(f"unknown attribution {attribution!r}; known: {', '.join(ATTRIBUTIONS)}")
    hw = hardware_arrays(specs)
    col = lambda name: table[name].to_numpy(np.int64)[:, None]  # noqa: E731
    weights = col("kernel_h") * col("kernel_w") * (col("in_channels") // col("groups")) * col("out_channels")
    outputs = col("out_h") * col("out_w")
    op = table["op"].to_numpy()[:, None]
    compute_row = (op == "conv") | (op == "linear")

    base = delay_eq7(weights, outputs, **hw)
    if method == "pgdat":
        delay = base
    elif method == "float":
        noisy = table["noisy"].to_numpy(bool)[:, None] & noise_active
        delay = np.where(noisy, delay_eq8(weights, outputs, **hw), base)
    elif method == "oat":
        film_c = np.where(op == "conv", col("out_channels"), 0) if attribution == "paper" else col("film_channels")
        delay = delay_eq9(weights, outputs, film_c, **hw)
    else:
        raise ValueError(f"unknown method {method!r}")
    return {
        "delay_base_ns": np.where(compute_row, base, 0.0),
        "delay_ns": np.where(compute_row, delay, 0.0),
    }
