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

from ..config import HardwareSpec
from ..errors import HwsimError
from ..methods.base import Cycles, DelayTerms

Attribution = Literal["paper", "structural"]
ATTRIBUTIONS: tuple[str, ...] = ("paper", "structural")


EXACT_LIMIT = 2**53  # every integer below this is a float64, and ceil(fl(a / b)) == ceil(a / b)


class InexactError(HwsimError):
    """A cycle count would reach 2^53, where float64 (the delay sums) stops being exact: refused, never
    rounded. ``field`` is the hardware field whose value drives the count."""

    def __init__(self, field: str, what: str, value: float) -> None:
        self.field = field
        super().__init__(
            f"{field}: {what} reaches {value:.4g} >= 2^53 for this layer table, beyond exact float64 "
            "integer arithmetic; the delay would be rounded (use another value or a smaller model)"
        )


def check_exact(values, field: str, what: str) -> None:
    """Raise :class:`InexactError` when any of ``values`` (exact integers, or their float64 upper
    bound) reaches 2^53. Bounds are taken in float64, so a product that would wrap int64 is caught too."""
    values = np.asarray(values)
    if values.size:
        top = float(np.max(values))
        if not top < EXACT_LIMIT:
            raise InexactError(field, what, top)


def _ceil_div(num, den):
    """ceil(num / den) for positive integers, exactly.

    Float64 division is used when every numerator lies below 2^53: then a / b is correctly rounded
    and, being at least 1/b from the next integer when it is not one, never rounds across it. It is
    several times faster than int64 floor division on large grids. Larger values take the int path.
    """
    num, den = np.asarray(num), np.asarray(den)
    if num.size and (np.max(num) < EXACT_LIMIT and np.max(den) < EXACT_LIMIT):
        return np.ceil(num.astype(np.float64) / den.astype(np.float64))
    num, den = num.astype(np.int64), den.astype(np.int64)
    return -(-num // den)


def read_cycles(values, io_bandwidth_bits, weight_bits, n_banks):
    """ceil(values / ((B_IO / B_W) N_bank)), exactly (refused when K B_W would reach 2^53)."""
    check_exact(
        np.asarray(values, np.float64) * np.asarray(weight_bits, np.float64), "memory.weight_bits", "K x weight_bits"
    )
    return _ceil_div(np.asarray(values, np.int64) * weight_bits, np.asarray(io_bandwidth_bits, np.int64) * n_banks)


def film_values(c_out):
    """F = 2 C_o + 4 C_o^2, the FiLM read/multiply count of Eq. 9."""
    c = np.asarray(c_out, dtype=np.int64)
    return 2 * c + 4 * c * c


def _reads(weights, hw: dict, read_bits=None):
    """ceil(K / R) read cycles, or ceil(read_bits / (B_IO N_bank)) when the read term fetches a sparse
    layer's storage (``memory.sparse_reads``)."""
    if read_bits is None:
        return read_cycles(weights, hw["io_bandwidth_bits"], hw["weight_bits"], hw["n_banks"])
    check_exact(read_bits, "memory.weight_bits", "the bits a layer reads")
    return _ceil_div(np.asarray(read_bits, np.int64), np.asarray(hw["io_bandwidth_bits"], np.int64) * hw["n_banks"])


def eq7_cycles(weights, outputs, hw: dict, *, read_bits=None, mult_weights=None) -> Cycles:
    """Paper Eq. 7 as whole cycles: ``ceil(K / R)`` reads and ``ceil(K / N_mult) H_o W_o`` multiplies.

    Sparse layers: ``read_bits`` replaces ``K B_W`` in the read term (``memory.sparse_reads``), and
    ``mult_weights`` replaces K in the multiply term (``compute.zero_skipping``); None keeps Eq. 7."""
    mults = weights if mult_weights is None else mult_weights
    return Cycles(_reads(weights, hw, read_bits), _mult_cycles(mults, outputs, hw["n_multipliers"]))


def _mult_cycles(weights, outputs, n_multipliers):
    """ceil(K / N_mult) H_o W_o, exactly (refused when it would reach 2^53)."""
    per_output = _ceil_div(weights, n_multipliers)
    outputs = np.asarray(outputs, np.int64)
    check_exact(per_output * outputs.astype(np.float64), "compute.n_multipliers", "ceil(K / n_multipliers) x H_o W_o")
    return per_output * outputs


def eq9_cycles(weights, outputs, film_c_out, hw: dict, *, read_bits=None, mult_weights=None) -> Cycles:
    """Paper Eq. 9 as whole cycles, with a FiLM of width ``film_c_out`` (0 gives Eq. 7); ``read_bits``
    and ``mult_weights`` as in :func:`eq7_cycles` (the FiLM values are always read and multiplied)."""
    film = film_values(film_c_out)
    if read_bits is None:
        reads = _reads(np.asarray(weights, np.int64) + film, hw)
    else:
        reads = _reads(None, hw, np.asarray(read_bits, np.int64) + film * np.asarray(hw["weight_bits"], np.int64))
    mults = weights if mult_weights is None else mult_weights
    mults = _mult_cycles(mults, outputs, hw["n_multipliers"]) + _ceil_div(film, hw["n_multipliers"])
    check_exact(mults, "compute.n_multipliers", "Eq. 9's multiply cycles")
    return Cycles(reads, mults)


def cycles_to_ns(cycles: Cycles, hw: dict) -> np.ndarray:
    return cycles.reads * hw["tau_read_ns"] + cycles.mults * hw["tau_mult_ns"]


def delay_eq7(weights, outputs, **hw):
    """Paper Eq. 7, baseline conv delay in ns.

    ``weights`` is K = k^2 C_i C_o, ``outputs`` is H_o W_o; ``hw`` holds the HardwareSpec fields
    (tau_read_ns, tau_mult_ns, io_bandwidth_bits, weight_bits, n_banks, n_multipliers).
    """
    return cycles_to_ns(eq7_cycles(weights, outputs, hw), hw)


def delay_eq8(weights, outputs, **hw):
    """Paper Eq. 8, FLOAT conv delay at lambda = 1: the multiply term runs (1 + H_o W_o) times."""
    return delay_eq7(weights, np.asarray(outputs, np.int64) + 1, **hw)


def delay_eq9(weights, outputs, film_c_out, **hw):
    """Paper Eq. 9, OAT conv delay with a FiLM of width ``film_c_out`` (0 gives Eq. 7)."""
    return cycles_to_ns(eq9_cycles(weights, outputs, film_c_out, hw), hw)


def delay_terms(table, *, handling=None, weight_bits=None, noise_on_pruned: bool = True) -> DelayTerms:
    """The per-row inputs of Eq. 7-9 from a layer table (any mapping of column -> 1-D array).

    ``handling`` (a :class:`~hwsim.costs.specgrid.SparseHandling`) switches the sparse-layer rules
    on: with ``sparse_reads`` the read term fetches each row's storage in the spec's format (kept
    values x B_W + index words, :func:`hwsim.costs.memory.format_bits` with K positions; needs
    ``weight_bits``, (1, G)); with ``zero_skipping`` the multiply term counts the kept weights."""
    from .memory import format_bits

    col = lambda name: np.asarray(table[name], dtype=np.int64)[:, None]  # noqa: E731
    op = np.asarray(table["op"])[:, None]
    weights = col("kernel_h") * col("kernel_w") * (col("in_channels") // col("groups")) * col("out_channels")
    read_bits = mult_weights = None
    if handling is not None and handling.sparse_reads:
        bits = format_bits(table, weights[:, 0], handling.sparse_format, handling.index_bits, weight_bits)
        read_bits = np.rint(bits).astype(np.int64)
    if handling is not None and handling.zero_skipping:
        density = np.asarray(table["density"], np.float64)[:, None]
        mult_weights = np.maximum(np.rint(density * weights).astype(np.int64), 0)
    return DelayTerms(
        weights=weights,
        outputs=col("out_h") * col("out_w"),
        out_channels=col("out_channels"),
        film_channels=col("film_channels"),
        noisy=np.asarray(table["noisy"], dtype=bool)[:, None],
        is_conv=op == "conv",
        read_bits=read_bits,
        mult_weights=mult_weights,
        dense_noise=noise_on_pruned,
    )


def compute_rows(table) -> np.ndarray:
    """(L, 1) mask of the rows that run on the MAC array (conv and linear; FiLM linears are charged
    as Eq. 9's FiLM term on the conv they modulate)."""
    op = np.asarray(table["op"])[:, None]
    return (op == "conv") | (op == "linear")


def check_attribution(attribution: str) -> None:
    if attribution not in ATTRIBUTIONS:
        raise ValueError(f"unknown attribution {attribution!r}; known: {', '.join(ATTRIBUTIONS)}")


def layer_delays(
    table,
    specs: HardwareSpec | list[HardwareSpec],
    method: str,
    *,
    attribution: Attribution = "paper",
    noise_active: bool = True,
) -> dict[str, np.ndarray]:
    """Delay per row and hardware point, in ns, shaped (L, H).

    Returns ``delay_base_ns`` (Eq. 7 for every conv / linear row) and ``delay_ns`` by the method's
    rule (:meth:`hwsim.methods.Method.cycles`): PGD-AT Eq. 7; FLOAT Eq. 8 on noisy layers when
    ``noise_active`` (lambda_n > 0), else Eq. 7; OAT Eq. 9 with the FiLM term placed by
    ``attribution``. FiLM linear rows get 0: their cost is Eq. 9's FiLM term on the conv they
    modulate. A shortcut to the two delay metrics of :func:`hwsim.costs.costs`.
    """
    from .metrics import costs

    names = ["delay_base_ns", "delay_ns"]
    grid = costs(table, specs, method, attribution=attribution, noise_active=noise_active, metrics=names)
    return {name: grid.layer(name) for name in names}
