"""The memory-hierarchy cost model: DRAM -> global buffer -> PE-local storage -> a PE array.

hwsim's second cost model (a spec selects it with ``cost_model: hierarchy``; the paper's Eq. 7-9 stay
the default ``paper`` model and are computed on every spec). It prices what Eq. 7-9 leave out: a
weight read from DRAM costs far more than one from an 8 KB SRAM, buffers have a capacity, and
activations and partial sums move too. The paper has no such model: every rule below is hwsim's
choice, in the loop-nest reuse style of ZigZag (Mei et al. 2021) and Timeloop (Parashar et al.
2019); benchmarks/crossval.py measures it against ZigZag on the same hardware.

The layer as a loop nest
    A conv row is the loop nest over K (C_o), C (C_i / groups), Y, X (output rows / columns) and R, S
    (kernel rows / columns), once per group; a linear row is a 1 x 1 conv on its out_h x out_w map.
    Operands: weights W (relevant loops K C R S), inputs I (C, and Y X R S through the sliding
    window), outputs O (K Y X; C R S accumulate partial sums).

The mapping (chosen per distinct layer shape and capacity configuration, :func:`choose_mapping`)
    * spatial: the dataflow unrolls two loops over the ``rows x cols`` PE array (:data:`SPATIAL`):
      weight-stationary C x K (TPU-like), output-stationary X x K (ShiDianNao-like),
      input-stationary C x X. A loop shorter than its array side leaves PEs idle.
    * temporal, three levels, outer to inner: loops over the layer's tiles ``T1`` (from DRAM into the
      global buffer), loops over the sub-tiles of ``T1`` that the array takes from the buffer, and
      inside each PE a small tile ``T0`` of K C Y X and the kernel loops R S. The DRAM loops and the
      buffer loops each run in one of the six orders of K, C and P = (Y, X), X inside Y
      (:data:`ORDERS`); the PE loops in one of :data:`PE_ORDERS` (R S inside or outside the T0 loops).
    * the tiles that minimise traffic, by a small vectorised enumeration (:func:`choose_mapping`):
      every ``T1`` (per loop a power of two, or the whole loop, times the unroll) whose W + I + O
      footprint fits the global buffer, with every DRAM order, for the least DRAM bits; among the
      ties the least buffer-array bits (judged with two PE tiles: none, and the largest that fits);
      then every ``T0`` (per loop 1..32) within the local capacity with every buffer order, for the
      least buffer-array bits, ties broken by the least local bits (fills + MAC-side reads under the
      best PE order). Not a search over every mapping (ZigZag's LOMA is one): one tile per level
      serves all three operands, and input halos are refetched.

Traffic: the refetch rule of ZigZag / Timeloop (:func:`multipliers`)
    A tile of an operand at a level is brought in again whenever a loop above it moves, except over
    the innermost run of loops irrelevant to it (it is still there: the stationary reuse); loops of
    one trip are transparent. Across the buffer boundary the rule runs over the DRAM loops; across the
    array boundary over the DRAM and the buffer loops together (data stays in the PEs across both).
    An output visited ``v`` times crosses a boundary as ``v - 1`` partial sums (``psum_bits``) and one
    final value (``activation_bits``), and ``v - 1`` partial sums come back. Inputs and weights
    broadcast to several PEs are read once from the buffer and written into each PE; partial sums are
    reduced across the array before they reach the buffer. Local storage serves every MAC: its weight
    and input once per MAC unless the innermost PE loops reuse them (the value stays at the
    multiplier), and its partial sum read and written once per MAC, as ZigZag counts the lowest level.

Energy and latency (:func:`level_bits`, :func:`price`)
    Energy: each level's read and write bits, at its ``read_pj`` / ``write_pj`` per access of its
    ``word_bits``, plus ``mac_pj`` per MAC. Latency: the roofline ``max(compute, each level's
    transfer time)`` cycles at ``clock_mhz``, compute ``prod(ceil(loop / unroll)) x R x S`` cycles per
    group. A level's transfer time is its bits over its ``bandwidth_bits``; one that moves at least
    :data:`PORTS` words a cycle has that many ports of an equal share (weights read, inputs read,
    partial sums / outputs read, all writes: the ZigZag export's ports), and its busiest port sets
    the time. Local storage is per PE: its bits per busy PE.

Method extras (:class:`Extras`, filled in by :meth:`hwsim.costs.metrics.CostInputs.hierarchy_bits`):
FLOATS with ``memory.sparse_reads`` move the weights above the PEs in the spec's sparse format (kept
values + index words); ``compute.zero_skipping`` scales the MACs, their local accesses and the
compute cycles by the density (a FLOAT noisy layer with dense noise is dense again). FLOAT, when the
condition adds noise: every weight entering the array gets its noise, ``noise_pj`` each and one
pass over the PEs (``ceil(noise / PEs)`` cycles, the ``1 +`` of Eq. 8; drawing eta is not counted),
and its alphas come from DRAM once. OAT: the FiLM MLPs are their own ``film_linear`` rows; the
modulation ``x * mu + sigma`` is one MAC per modulated element (``ceil(. / PEs)`` cycles) and mu,
sigma are read from the buffer: the network's real structure (Eq. 9's ``attribution`` is not used).

Pure numpy: the enumeration runs once per (distinct row, capacity group) and is memoised
(:func:`mapped_traffic`); what varies per design point (bandwidths, energies, clock) broadcasts over
(rows, points), and the totals price bits summed per group (work G x rows + H, not rows x H).
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from dataclasses import dataclass, fields

import numpy as np

from ..config import DATAFLOWS
from ..errors import HwsimError
from . import specgrid as _specgrid

DIMS = ("K", "C", "Y", "X")
RELEVANT = {"W": ("K", "C"), "I": ("C", "Y", "X"), "O": ("K", "Y", "X")}
PE_RELEVANT = {"W": ("K", "C", "R", "S"), "I": ("C", "Y", "X", "R", "S")}
# outer -> inner orders of the three loop groups; P is Y then X (X the inner of the two)
ORDERS: tuple[tuple[str, ...], ...] = tuple(itertools.permutations(("K", "C", "P")))
LOOP_ORDERS: tuple[tuple[str, ...], ...] = tuple(
    tuple(d for group in order for d in (("Y", "X") if group == "P" else (group,))) for order in ORDERS
)
SPATIAL: dict[str, tuple[str, str]] = {  # dataflow -> (loop over the array rows, loop over its columns)
    "weight-stationary": ("C", "K"),
    "output-stationary": ("X", "K"),
    "input-stationary": ("C", "X"),
}
assert set(SPATIAL) == set(DATAFLOWS)
LOCAL_FACTORS = (1, 2, 4, 8, 16, 32)  # T0 candidates per loop: PE-local tiles are small
# the PE loops, outer -> inner: the T0 loops in one of the orders with the kernel loops R S inside or outside them
PE_ORDERS: tuple[tuple[str, ...], ...] = tuple(o + ("R", "S") for o in LOOP_ORDERS) + tuple(
    ("R", "S") + o for o in LOOP_ORDERS
)
PE_DIMS = (*DIMS, "R", "S")
ORDER_POS = np.array([[order.index(d) for d in DIMS] for order in LOOP_ORDERS])  # (orders, dims): 0 outermost
PE_POS = np.array([[order.index(d) for d in PE_DIMS] for order in PE_ORDERS])
T0_GRID = np.array(list(itertools.product(LOCAL_FACTORS, repeat=len(DIMS))), np.int64)  # every PE tile
EPS = 1e-12  # relative tolerance of "as few bits as the best"


@dataclass(frozen=True)
class Shapes:
    """The loop bounds of each (unique) row, (L,) int64 arrays."""

    K: np.ndarray
    C: np.ndarray
    Y: np.ndarray
    X: np.ndarray
    R: np.ndarray
    S: np.ndarray
    groups: np.ndarray
    sy: np.ndarray
    sx: np.ndarray
    dy: np.ndarray
    dx: np.ndarray
    pad_y: np.ndarray
    pad_x: np.ndarray
    in_y: np.ndarray
    in_x: np.ndarray

    @classmethod
    def of(cls, rows) -> Shapes:
        col = lambda name: np.asarray(rows[name], np.int64)  # noqa: E731
        return cls(
            K=col("out_channels"), C=col("in_channels") // col("groups"), Y=col("out_h"), X=col("out_w"),
            R=col("kernel_h"), S=col("kernel_w"), groups=col("groups"), sy=col("stride_h"), sx=col("stride_w"),
            dy=col("dilation_h"), dx=col("dilation_w"), pad_y=col("padding_h"), pad_x=col("padding_w"),
            in_y=col("in_h"), in_x=col("in_w"),
        )  # fmt: skip

    def __len__(self) -> int:
        return len(self.K)

    def dim(self, d: str) -> np.ndarray:
        return getattr(self, d)

    def take(self, index) -> Shapes:
        """The rows at ``index`` (any numpy index: ``(slice(None), None)`` adds a trailing axis)."""
        return Shapes(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @property
    def macs(self) -> np.ndarray:
        """MACs per row (all groups): what :func:`hwsim.costs.compute.layer_macs` counts."""
        return self.K * self.C * self.Y * self.X * self.R * self.S

    @property
    def weights(self) -> np.ndarray:
        return self.K * self.C * self.R * self.S

    @property
    def outputs(self) -> np.ndarray:
        return self.K * self.Y * self.X


@dataclass(frozen=True)
class Group:
    """One capacity configuration: the integer hardware values the mapping depends on."""

    dataflow: str
    pe_rows: int
    pe_cols: int
    glb_capacity_bytes: int
    local_capacity_bytes: int
    weight_bits: int
    activation_bits: int
    psum_bits: int


GROUP_FIELDS = tuple(f.name for f in fields(Group) if f.name != "dataflow")
if GROUP_FIELDS != _specgrid.HIER_GROUP:  # the grid groups points by the same fields  # pragma: no cover
    raise ImportError(f"hwsim.costs.specgrid.HIER_GROUP {_specgrid.HIER_GROUP} != Group fields {GROUP_FIELDS}")


def window(tile, stride, dilation, kernel):
    """Input positions that ``tile`` outputs read along one axis: their span (t - 1) s + (k - 1) d + 1,
    or t k when the kernel windows do not overlap (a strided 1 x 1 conv skips the rows between)."""
    return np.minimum((tile - 1) * stride + (kernel - 1) * dilation + 1, tile * kernel)


def fetched(tile, bound, stride, dilation, kernel, pad, size):
    """Input elements along one axis that one pass over every tile of ``tile`` outputs fetches: each
    tile's window (halos refetched), less the zero padding that lies outside the real input."""
    trips = -(-bound // tile)
    swept = window(bound, stride, dilation, kernel)
    real = np.minimum(np.maximum(swept - pad, 1), size)
    return trips * window(tile, stride, dilation, kernel) - (swept - real)


def input_pass(shapes: Shapes, ty, tx) -> np.ndarray:
    """Input elements of one pass over all (Y, X) tiles of ``ty x tx`` outputs, all C (float64)."""
    s = shapes
    rows = fetched(ty, s.Y, s.sy, s.dy, s.R, s.pad_y, s.in_y)
    cols = fetched(tx, s.X, s.sx, s.dx, s.S, s.pad_x, s.in_x)
    return (s.C * rows * cols).astype(np.float64)


def array_pass(shapes: Shapes, t0: dict[str, np.ndarray], u: dict[str, np.ndarray]) -> np.ndarray:
    """:func:`input_pass` of the array tiles: PE tile ``t0`` times the unroll ``u``, at most the loop."""
    return input_pass(shapes, np.minimum(t0["Y"] * u["Y"], shapes.Y), np.minimum(t0["X"] * u["X"], shapes.X))


def _reuse(instances, relevant: dict[str, tuple[str, ...]], inside: bool) -> dict[str, np.ndarray]:
    """Per operand, the product of the trips of the loops irrelevant to it that lie outside (``inside``
    False) or inside (True) its innermost relevant loop of more than one trip. ``instances``: the loops
    as (dim, trips, position), position 0 outermost; arrays broadcast, so each element may have its own
    loop order (its own positions)."""
    shape = np.broadcast_shapes(*(np.shape(t) for _, t, _ in instances), *(np.shape(p) for _, _, p in instances))
    live = [np.where(trips > 1, pos, -1) for _, trips, pos in instances]  # a position only where it loops
    out = {}
    for op, rel in relevant.items():
        innermost = np.full(shape, -1)
        for (dim, _, _), here in zip(instances, live):
            if dim in rel:
                np.maximum(innermost, here, out=innermost)
        product = np.ones(shape)
        for dim, trips, pos in instances:
            if dim not in rel:
                beyond = pos > innermost if inside else pos < innermost
                product *= np.where(beyond, trips, 1)
        out[op] = product
    return out


def multipliers(loops: list[tuple[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """How often each distinct tile of W, I and O below ``loops`` (outer -> inner: (dim, trips)) is
    brought in: the trips of the loops irrelevant to the operand that lie outside its innermost
    relevant loop of more than one trip (the run of irrelevant loops inside that one reuses the tile)."""
    return _reuse([(d, t, k) for k, (d, t) in enumerate(loops)], RELEVANT, inside=False)


def ordered(trips: dict[str, np.ndarray], order, offset: int = 0) -> list:
    """The loops of :data:`DIMS` with these trips as (dim, trips, position) in the order(s) ``order``
    (index into :data:`LOOP_ORDERS`, an array: each element its own order), positions from ``offset``."""
    pos = ORDER_POS[np.asarray(order)]
    return [(d, trips[d], offset + pos[..., j]) for j, d in enumerate(DIMS)]


def pe_reuse(shapes: Shapes, t0: dict[str, np.ndarray], order) -> dict[str, np.ndarray]:
    """MACs per local read of W and of I: the trips of the innermost PE loops (``order``: index into
    :data:`PE_ORDERS`, an array broadcasting against ``t0``) irrelevant to it, inside its innermost
    relevant loop of more than one trip (the value stays at the multiplier's input)."""
    trips = {**t0, "R": shapes.R, "S": shapes.S}
    pos = PE_POS[np.asarray(order)]
    return _reuse([(d, trips[d], pos[..., j]) for j, d in enumerate(PE_DIMS)], PE_RELEVANT, inside=True)


def unroll(shapes: Shapes, group: Group) -> dict[str, np.ndarray]:
    """Spatial unroll per loop, (L,): the dataflow's two loops over the array rows / columns (at most the loop)."""
    rows, cols = SPATIAL[group.dataflow]
    u = {d: np.ones(len(shapes), np.int64) for d in DIMS}
    u[rows] = np.minimum(shapes.dim(rows), group.pe_rows)
    u[cols] = np.minimum(shapes.dim(cols), group.pe_cols)
    return u


def footprint_bits(t: dict[str, np.ndarray], shapes: Shapes, group: Group, extra: int = 0) -> np.ndarray:
    """W + I + O bits of a tile ``t`` (per loop, arrays with ``extra`` trailing axes over the rows)."""
    ex = lambda a: a.reshape(a.shape + (1,) * extra)  # noqa: E731
    s = shapes
    w = t["K"] * t["C"] * ex(s.R * s.S)
    i = t["C"] * window(t["Y"], ex(s.sy), ex(s.dy), ex(s.R)) * window(t["X"], ex(s.sx), ex(s.dx), ex(s.S))
    o = t["K"] * t["Y"] * t["X"]
    return w * group.weight_bits + i * group.activation_bits + o * group.psum_bits


def _factors(trips: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(L, F) tile factors for loops of ``trips``: the powers of two below it, then the whole loop; and
    which of them are real (short rows are padded with copies of their last factor)."""
    per_row = [[1 << k for k in range(max(int(v) - 1, 0).bit_length()) if 1 << k < v] + [int(v)] for v in trips]
    width = max(len(r) for r in per_row)
    padded = np.array([r + r[-1:] * (width - len(r)) for r in per_row], np.int64)
    return padded, np.arange(width)[None, :] < np.array([len(r) for r in per_row])[:, None]


def _moves(shapes: Shapes, loops, i_pass) -> dict[str, np.ndarray]:
    """Elements crossing a boundary below ``loops`` (as :func:`ordered` gives them: (dim, trips,
    position)), per operand: W and I fills, O visits (per output)."""
    m = _reuse(loops, RELEVANT, inside=False)
    return {"W": shapes.weights * m["W"], "I": i_pass * m["I"], "O": m["O"]}


def _bits(shapes: Shapes, group: Group, moves: dict[str, np.ndarray], weight_scale) -> np.ndarray:
    """Bits of ``moves``: W and I fills at their widths, outputs up (``v - 1`` psums and the final
    value) and the ``v - 1`` psums back."""
    outputs = shapes.outputs.astype(np.float64)
    return (
        moves["W"] * weight_scale * group.weight_bits
        + moves["I"] * group.activation_bits
        + outputs * ((2 * moves["O"] - 2) * group.psum_bits + group.activation_bits)
    )


def _pe_fills(shapes: Shapes, u, t0, moves) -> tuple[np.ndarray, np.ndarray]:
    """Elements written into the PEs' local storage (all PEs) for the array fills ``moves``: a weight
    goes to every PE of the unrolled output loops (Y X), an input to every PE of K and, over X, to each
    PE's own window (the halo shared with a neighbour is written twice)."""
    ax = np.minimum(t0["X"] * u["X"], shapes.X)
    own = window(t0["X"], shapes.sx, shapes.dx, shapes.S)
    shared = window(ax, shapes.sx, shapes.dx, shapes.S)
    return moves["W"] * u["Y"] * u["X"], moves["I"] * u["K"] * u["X"] * own / shared


@dataclass(frozen=True)
class Mapping:
    """The chosen mapping per row, (L,) int64: the unroll ``U_*``, the buffer tile ``T1_*``, the PE
    tile ``T0_*`` (per loop of :data:`DIMS`), the indices into :data:`ORDERS` of the DRAM and the
    buffer loop orders, and into :data:`PE_ORDERS` of the PE loop order."""

    unroll: dict[str, np.ndarray]
    buffer_tile: dict[str, np.ndarray]
    pe_tile: dict[str, np.ndarray]
    dram_order: np.ndarray
    buffer_order: np.ndarray
    pe_order: np.ndarray

    def loops(self, shapes: Shapes):
        """Trips of the DRAM loops and of the buffer loops, per loop."""
        full = {d: shapes.dim(d) for d in DIMS}
        dram = {d: -(-full[d] // self.buffer_tile[d]) for d in DIMS}
        sub = {d: -(-self.buffer_tile[d] // self.unroll[d]) for d in DIMS}
        buffer = {d: -(-sub[d] // self.pe_tile[d]) for d in DIMS}
        return dram, buffer

    def columns(self) -> dict[str, np.ndarray]:
        out = {f"U_{d}": v for d, v in self.unroll.items()}
        out.update({f"T1_{d}": v for d, v in self.buffer_tile.items()})
        out.update({f"T0_{d}": v for d, v in self.pe_tile.items()})
        out["dram_order"] = np.array([">".join(ORDERS[i]) for i in self.dram_order], dtype=object)
        out["buffer_order"] = np.array([">".join(ORDERS[i]) for i in self.buffer_order], dtype=object)
        out["pe_order"] = np.array([">".join(PE_ORDERS[i]) for i in self.pe_order], dtype=object)
        return out


def _infeasible(level: str, group: Group, shapes: Shapes, row: int, bits: int) -> HwsimError:
    capacity = group.glb_capacity_bytes if level == "global_buffer" else group.local_capacity_bytes
    what = "the smallest tile" if level == "global_buffer" else "one kernel with its input window and a partial sum"
    per = " per PE" if level == "local" else ""
    s = shapes
    return HwsimError(
        f"hierarchy.{level}.capacity_bytes: {capacity} B{per} cannot hold {what} of a "
        f"{int(s.K[row])}x{int(s.C[row])}x{int(s.R[row])}x{int(s.S[row])} layer on the "
        f"{group.pe_rows}x{group.pe_cols} array ({-(-bits // 8)} B); raise it"
    )


def _largest_fit(sub: dict[str, np.ndarray], shapes: Shapes, group: Group) -> dict[str, np.ndarray]:
    """The largest PE tile of the form ceil(sub / 2^k) (the same k for every loop) within the local
    capacity: the "hold as much as fits" candidate of stage 1 (1 where nothing larger fits)."""
    best = {d: np.ones_like(sub[d]) for d in DIMS}
    for k in range(12, -1, -1):  # from small to large: the last that fits wins
        t0 = {d: np.maximum(-(-sub[d] // (1 << k)), 1) for d in DIMS}
        ok = footprint_bits(t0, shapes, group) <= group.local_capacity_bytes * 8
        best = {d: np.where(ok, t0[d], best[d]) for d in DIMS}
    return best


def _row_min(row: np.ndarray, values: np.ndarray, n_rows: int) -> np.ndarray:
    """The least of ``values`` per row, for candidates flattened as (``row``, values)."""
    lowest = np.full(n_rows, np.inf)
    np.minimum.at(lowest, row, values)
    return lowest


def _row_best(row: np.ndarray, score: np.ndarray, n_rows: int) -> np.ndarray:
    """Index of each row's least-``score`` candidate among candidates flattened as ``row`` (the first on ties)."""
    by_row = np.lexsort((score, row))  # rows in order, each row's best candidate first
    return by_row[np.searchsorted(row[by_row], np.arange(n_rows))]


def choose_mapping(shapes: Shapes, group: Group, weight_scale: np.ndarray) -> Mapping:
    """The mapping of every row for one capacity group (the enumeration of the module docstring).
    ``weight_scale``: bits a weight moves above the PEs per ``weight_bits`` (sparse formats; else 1).

    Stage 1: every buffer tile T1 that fits, with every DRAM order, for the least DRAM bits; among the
    ties, the least buffer-array bits over every buffer order with two PE tiles, T0 = 1 and the largest
    ``ceil(sub / 2^k)`` that fits (so that a T1 whose sub-tiles the PEs can hold is not judged as if
    they could not). Stage 2: for the chosen T1 and DRAM order, every T0 (factors
    :data:`LOCAL_FACTORS`) within the local capacity with every buffer order, for the least
    buffer-array bits, ties broken by the least local bits (fills + MAC reads under the best PE order)."""
    L = len(shapes)
    u = unroll(shapes, group)
    full = {d: shapes.dim(d) for d in DIMS}
    trips = {d: -(-full[d] // u[d]) for d in DIMS}
    n_orders = len(LOOP_ORDERS)

    # stage 1a: the least DRAM bits over (T1, DRAM order)
    factors = {d: _factors(trips[d]) for d in DIMS}
    mesh = [m.reshape(-1) for m in np.meshgrid(*(np.arange(factors[d][0].shape[1]) for d in DIMS), indexing="ij")]
    t1 = {d: np.minimum(u[d][:, None] * factors[d][0][:, m], full[d][:, None]) for d, m in zip(DIMS, mesh)}
    fits = footprint_bits(t1, shapes, group, extra=1) <= group.glb_capacity_bytes * 8  # (L, M)
    real = np.logical_and.reduce([factors[d][1][:, m] for d, m in zip(DIMS, mesh)])  # no padded repeats
    if not fits.any(axis=1).all():
        bad = int(np.flatnonzero(~fits.any(axis=1))[0])
        smallest = footprint_bits({d: u[d][:, None] for d in DIMS}, shapes, group, extra=1)[bad, 0]
        raise _infeasible("global_buffer", group, shapes, bad, int(smallest))
    every = np.arange(n_orders)
    # (tiles that fit, DRAM order) for every row, flattened; padded factor repeats are left out
    row, cand = np.nonzero(fits & real)
    sh = shapes.take((row, None))
    n2 = {d: (-(-full[d][row] // t1[d][row, cand]))[:, None] for d in DIMS}
    i_dram = input_pass(sh, t1["Y"][row, cand][:, None], t1["X"][row, cand][:, None])
    dram_bits = _bits(sh, group, _moves(sh, ordered(n2, every), i_dram), weight_scale[row][:, None])
    tied = dram_bits <= _row_min(row, dram_bits.min(axis=1), L)[row, None] * (1 + EPS)
    # every DRAM order but the first is a copy where at most one DRAM loop has more than one trip
    one_loop = sum((n2[d] > 1).astype(np.int64) for d in DIMS) <= 1
    tied &= ~(one_loop & (every > 0))

    # stage 1b: among the ties (flattened, N), the least buffer-array bits over (PE tile option, buffer order)
    at, outer = np.nonzero(tied)
    row, cand = row[at], cand[at]
    s1 = shapes.take((row, None, None))
    T1c = {d: t1[d][row, cand] for d in DIMS}
    n2c = {d: -(-shapes.dim(d)[row] // T1c[d]) for d in DIMS}
    sub = {d: -(-T1c[d] // u[d][row]) for d in DIMS}
    fit = _largest_fit(sub, shapes.take(row), group)
    t0 = {d: np.stack([np.ones_like(sub[d]), fit[d]], axis=1)[:, :, None] for d in DIMS}  # (N, 2, 1)
    n1 = {d: -(-sub[d][:, None, None] // t0[d]) for d in DIMS}
    i_array = array_pass(s1, t0, {d: u[d][row][:, None, None] for d in DIMS})
    loops = ordered({d: v[:, None, None] for d, v in n2c.items()}, outer[:, None, None]) + ordered(n1, every, 4)
    best = _bits(s1, group, _moves(s1, loops, i_array), weight_scale[row][:, None, None]).min(axis=(1, 2))
    first = _row_best(row, best, L)
    dram_order = outer[first]
    T1 = {d: t1[d][np.arange(L), cand[first]] for d in DIMS}

    # stage 2: every PE tile T0 within the local capacity and every buffer order, for the chosen T1
    sub = {d: -(-T1[d] // u[d]) for d in DIMS}
    t0 = {d: np.minimum(T0_GRID[None, :, j], sub[d][:, None]) for j, d in enumerate(DIMS)}  # (L, Q)
    local_fits = footprint_bits(t0, shapes, group, extra=1) <= group.local_capacity_bytes * 8
    if not local_fits.any(axis=1).all():
        bad = int(np.flatnonzero(~local_fits.any(axis=1))[0])
        ones = {d: np.ones((L, 1), np.int64) for d in DIMS}
        raise _infeasible("local", group, shapes, bad, int(footprint_bits(ones, shapes, group, extra=1)[bad, 0]))
    row, q = np.nonzero(local_fits)  # flattened (F): only the distinct tiles that fit (clipping repeats some)
    bits = max(LOCAL_FACTORS).bit_length()  # each factor in one field of an int64 key (1-D unique is fast)
    key = row.astype(np.int64)
    for d in DIMS:
        key = (key << bits) | t0[d][row, q]
    key = np.unique(key)
    t0 = {}
    for d in reversed(DIMS):
        t0[d], key = (key & ((1 << bits) - 1))[:, None], key >> bits  # (F, 1)
    row = key
    s2 = shapes.take((row, None))
    u2 = {d: u[d][row][:, None] for d in DIMS}
    n2 = {d: (-(-shapes.dim(d)[row] // T1[d][row]))[:, None] for d in DIMS}
    n1 = {d: -(-sub[d][row][:, None] // t0[d]) for d in DIMS}
    i_array = array_pass(s2, t0, u2)
    # MAC-side local reads of each tile under its best PE order (the partial sum costs the same in every one)
    reuse = pe_reuse(s2, t0, np.arange(len(PE_ORDERS))[None, :])  # (F, PE orders)
    per_mac = group.weight_bits / reuse["W"] + group.activation_bits / reuse["I"]
    pe_pick = np.argmin(per_mac, axis=1)
    reads = per_mac[np.arange(len(row)), pe_pick][:, None] * s2.macs
    moves = _moves(s2, ordered(n2, dram_order[row][:, None]) + ordered(n1, every[None, :], 4), i_array)  # (F, orders)
    fill_w, fill_i = _pe_fills(s2, u2, t0, moves)
    glb = _bits(s2, group, moves, weight_scale[row][:, None])
    local = fill_w * group.weight_bits + fill_i * group.activation_bits + reads
    # per row, lexicographic over its (tile, order) candidates: the least buffer bits, then local bits
    local = np.where(glb <= _row_min(row, glb.min(axis=1), L)[row, None] * (1 + EPS), local, np.inf)
    chosen = _row_best(row, local.min(axis=1), L)
    buffer_order = np.argmin(local[chosen], axis=1)
    T0 = {d: t0[d][chosen, 0] for d in DIMS}
    return Mapping(u, T1, T0, dram_order, buffer_order, pe_pick[chosen])


@dataclass(frozen=True)
class Traffic:
    """Elements moved per row under a mapping (float64, (L,)), all groups of the row included.

    ``dram_w`` / ``dram_i``: weights / inputs DRAM sends the buffer; ``dram_visits``: how often each
    output goes up to DRAM (``- 1`` partial sums come back). ``array_w`` / ``array_i``: what the buffer
    sends the array; ``array_visits`` likewise for outputs. ``pe_fill_w`` / ``pe_fill_i``: what the PEs
    write into their local storage (broadcasts counted per PE); ``pe_read_w`` / ``pe_read_i`` /
    ``pe_psum``: local reads of W and I and partial-sum read-modify-writes, all PEs. ``outputs``
    and ``macs``: per row; ``compute``: array cycles; ``pes``: the PEs the unroll keeps busy."""

    dram_w: np.ndarray
    dram_i: np.ndarray
    dram_visits: np.ndarray
    array_w: np.ndarray
    array_i: np.ndarray
    array_visits: np.ndarray
    pe_fill_w: np.ndarray
    pe_fill_i: np.ndarray
    pe_read_w: np.ndarray
    pe_read_i: np.ndarray
    pe_psum: np.ndarray
    outputs: np.ndarray
    macs: np.ndarray
    compute: np.ndarray
    pes: np.ndarray


def count_traffic(shapes: Shapes, mapping: Mapping) -> Traffic:
    """The elements of :class:`Traffic` under ``mapping`` (the refetch rule, module docstring): the same
    :func:`_moves` and :func:`_pe_fills` the search priced, per group of the row."""
    u, T1, T0 = mapping.unroll, mapping.buffer_tile, mapping.pe_tile
    dram, buffer = mapping.loops(shapes)
    full = {d: shapes.dim(d) for d in DIMS}
    i_dram = input_pass(shapes, T1["Y"], T1["X"])
    i_array = array_pass(shapes, T0, u)
    top = ordered(dram, mapping.dram_order)
    up = _moves(shapes, top, i_dram)
    down = _moves(shapes, top + ordered(buffer, mapping.buffer_order, 4), i_array)
    reuse = pe_reuse(shapes, T0, mapping.pe_order)
    fill_w, fill_i = _pe_fills(shapes, u, T0, down)
    g, macs = shapes.groups.astype(np.float64), shapes.macs.astype(np.float64)
    compute = np.ones(len(shapes), np.int64)
    pes = np.ones(len(shapes), np.int64)
    for d in DIMS:
        compute, pes = compute * (-(-full[d] // u[d])), pes * u[d]
    return Traffic(
        dram_w=g * up["W"],
        dram_i=g * up["I"],
        dram_visits=up["O"],
        array_w=g * down["W"],
        array_i=g * down["I"],
        array_visits=down["O"],
        pe_fill_w=g * fill_w,
        pe_fill_i=g * fill_i,
        pe_read_w=g * macs / reuse["W"],
        pe_read_i=g * macs / reuse["I"],
        pe_psum=g * macs,
        outputs=g * shapes.outputs.astype(np.float64),
        macs=g * macs,
        compute=(g * compute * shapes.R * shapes.S).astype(np.float64),
        pes=pes,
    )


TRAFFIC_FIELDS = tuple(f.name for f in fields(Traffic))
_MAPPED: OrderedDict = OrderedDict()  # (group, rows, weight scale) -> Traffic: a sweep's chunks share groups
_MAPPED_SIZE = 1024


def mapped_traffic(shapes: Shapes, group: Group, weight_scale: np.ndarray) -> Traffic:
    """:func:`count_traffic` of :func:`choose_mapping`, memoised (a pure function of its inputs): every
    chunk of a sweep, every model costed again on the same hardware, reuses the search."""
    key = (group, tuple(getattr(shapes, f.name).tobytes() for f in fields(shapes)), weight_scale.tobytes())
    if key in _MAPPED:
        _MAPPED.move_to_end(key)
        return _MAPPED[key]
    traffic = count_traffic(shapes, choose_mapping(shapes, group, weight_scale))
    _MAPPED[key] = traffic
    if len(_MAPPED) > _MAPPED_SIZE:
        _MAPPED.popitem(last=False)
    return traffic


@dataclass(frozen=True)
class Extras:
    """What the method and the sparse handling add per row, (L,) arrays (see the module docstring).

    ``weight_scale``: bits a weight moves above the PEs over ``weight_bits`` (sparse formats; else 1),
    per (row, point); ``skip``: the fraction of MACs run (zero skipping; else 1); ``noise``: whether the
    row's weights get FLOAT's noise as they enter the array; ``film_mod``: OAT modulated elements
    (one MAC each); ``film_values``: mu and sigma read from the buffer (2 C per modulated row);
    ``alpha``: FLOAT's trainable noise scales, read from DRAM into the buffer and once to the array."""

    weight_scale: np.ndarray
    skip: np.ndarray
    noise: np.ndarray
    film_mod: np.ndarray
    film_values: np.ndarray
    alpha: np.ndarray | float = 0.0  # FLOAT's alpha per noisy row: one weight-wide value from DRAM, once


BITS = (
    *(f"{level}_{k}" for level in ("dram", "glb", "local") for k in ("read", "write", "port", "shared")),
    "macs_run", "noise", "compute_cycles",
)  # fmt: skip
# A level that moves at least PORTS words per cycle has PORTS ports of an equal share of its bandwidth, one
# each for weights read, inputs read, partial sums / outputs read and all writes (what hwsim.export.zigzag
# writes for ZigZag); a narrower level one port that every transfer shares.
PORTS = 4


def split_ports(bandwidth_bits, word_bits):
    """Whether a level of ``bandwidth_bits`` per cycle in ``word_bits`` accesses has :data:`PORTS` ports."""
    return np.asarray(bandwidth_bits) >= PORTS * np.asarray(word_bits)


PRICED = (
    "latency_ns", "energy_pj", "dram_pj", "glb_pj", "local_pj", "compute_pj", "dram_bits", "glb_bits", "local_bits",
    "compute_cycles", "dram_cycles", "glb_cycles", "local_cycles",
)  # fmt: skip
LINEAR = tuple(k for k in PRICED if k != "latency_ns")  # sums of per-row values: a total prices summed bits
CYCLE_BITS = ("compute_cycles", *(f"{level}_{k}" for level in ("dram", "glb", "local") for k in ("port", "shared")))


def level_bits(traffic: dict[str, np.ndarray], widths: dict[str, np.ndarray], extras: Extras) -> dict[str, np.ndarray]:
    """The bits each level reads and writes per (row, group) from the element counts of :class:`Traffic`
    (``traffic``: its fields as (L, G) arrays) and each group's ``widths`` ((1, G): weight_bits,
    activation_bits, psum_bits, pe_rows, pe_cols): everything of the model that does not depend on a
    design point's bandwidths, energies or clock (:data:`BITS`).

    DRAM reads W, I and partial sums back, writes outputs (``v - 1`` psums and the final value); the
    buffer writes what DRAM sends and what the array sends up, reads what it sends either way (and
    OAT's mu, sigma); local storage writes its fills, the partial sums back and each partial-sum
    update, reads W, I and the partial sum per MAC (over their reuse) and the outputs it sends up.
    FLOAT's alphas: one weight-wide value per noisy row, DRAM -> buffer -> array once.
    ``macs_run``: MACs (x ``skip``) and modulation MACs; ``noise``: weights given FLOAT's noise;
    ``compute_cycles``: the array's cycles with the noise and modulation passes."""
    t = traffic
    col = lambda a: np.asarray(a, np.float64)[:, None] if np.ndim(a) == 1 else np.asarray(a, np.float64)  # noqa: E731
    dense_wb = widths["weight_bits"].astype(np.float64)
    wb = dense_wb * col(extras.weight_scale)
    ab, pb = widths["activation_bits"].astype(np.float64), widths["psum_bits"].astype(np.float64)
    skip = col(extras.skip)
    psum_up = lambda visits: t["outputs"] * ((visits - 1) * pb + ab)  # noqa: E731
    psum_back = lambda visits: t["outputs"] * (visits - 1) * pb  # noqa: E731
    # per level, the four port streams (weights read, inputs read, psums / outputs read, writes)
    alpha = col(extras.alpha) * dense_wb
    streams = {
        "dram": (t["dram_w"] * wb + alpha, t["dram_i"] * ab, psum_back(t["dram_visits"]), psum_up(t["dram_visits"])),
        "glb": (
            t["array_w"] * wb + alpha,
            t["array_i"] * ab + col(extras.film_values) * ab,
            psum_back(t["array_visits"]) + psum_up(t["dram_visits"]),
            t["dram_w"] * wb + alpha + t["dram_i"] * ab + psum_back(t["dram_visits"]) + psum_up(t["array_visits"]),
        ),
        "local": tuple(
            v / t["pes"]  # per busy PE: each has its own storage
            for v in (
                t["pe_read_w"] * dense_wb * skip,
                t["pe_read_i"] * ab * skip,
                t["pe_psum"] * pb * skip + psum_up(t["array_visits"]),
                t["pe_fill_w"] * dense_wb
                + t["pe_fill_i"] * ab
                + psum_back(t["array_visits"])
                + t["pe_psum"] * skip * pb,
            )
        ),
    }
    out = {}
    for level, (w_read, i_read, o_read, write) in streams.items():
        scale = t["pes"] if level == "local" else 1.0  # local energies count every PE's accesses
        out[f"{level}_read"] = (w_read + i_read + o_read) * scale
        out[f"{level}_write"] = write * scale
        out[f"{level}_port"] = np.maximum.reduce([w_read, i_read, o_read, write])  # the busiest port's bits
        out[f"{level}_shared"] = w_read + i_read + o_read + write  # all of them, through one port
    pes = widths["pe_rows"].astype(np.float64) * widths["pe_cols"]
    noise = t["array_w"] * col(extras.noise)
    film_mod = col(extras.film_mod)
    out["macs_run"] = t["macs"] * skip + film_mod
    out["noise"] = noise
    out["compute_cycles"] = np.ceil(t["compute"] * skip) + np.ceil(noise / pes) + np.ceil(film_mod / pes)
    return out


def price(bits: dict[str, np.ndarray], hw: dict[str, np.ndarray], keys=PRICED) -> dict[str, np.ndarray]:
    """Energies, bits and cycles (``keys``, of :data:`PRICED`) from :func:`level_bits` (per (row,
    point), or summed over rows for the :data:`LINEAR` totals) at the design points' values ``hw``
    ((1, H) arrays under :data:`hwsim.config.HIERARCHY_FIELDS`): each level's bits / word_bits x pJ per
    access, MACs x mac_pj, noise x noise_pj; cycles = bits / bandwidth (local: per busy PE; the busiest
    of :data:`PORTS` ports where the level has them); latency the roofline max at ``clock_mhz``. Only
    what ``keys`` needs is computed (a latency total needs no energy)."""
    b, keys, out = bits, set(keys), {}
    levels = ("dram", "glb", "local")
    if keys & {"energy_pj", *(f"{level}_pj" for level in (*levels, "compute"))}:
        for level in levels:
            out[f"{level}_pj"] = (
                b[f"{level}_read"] * hw[f"{level}_read_pj"] + b[f"{level}_write"] * hw[f"{level}_write_pj"]
            ) / hw[f"{level}_word_bits"]
        out["compute_pj"] = b["macs_run"] * hw["mac_pj"] + b["noise"] * hw["hier_noise_pj"]
        out["energy_pj"] = out["dram_pj"] + out["glb_pj"] + out["local_pj"] + out["compute_pj"]
    for level in levels:
        if f"{level}_bits" in keys:
            out[f"{level}_bits"] = b[f"{level}_read"] + b[f"{level}_write"]
    if keys & {"latency_ns", *(f"{level}_cycles" for level in (*levels, "compute"))}:
        out["compute_cycles"] = b["compute_cycles"] + 0 * hw["clock_mhz"]
        for level in levels:
            bandwidth, word = hw[f"{level}_bandwidth_bits"], hw[f"{level}_word_bits"]
            out[f"{level}_cycles"] = np.where(
                split_ports(bandwidth, word), b[f"{level}_port"] * PORTS / bandwidth, b[f"{level}_shared"] / bandwidth
            )
    if "latency_ns" in keys:
        cycles = np.maximum.reduce([out[f"{k}_cycles"] for k in ("compute", *levels)])
        out["latency_ns"] = cycles * 1e3 / hw["clock_mhz"]
    return {k: v for k, v in out.items() if k in keys}


__all__ = [
    "BITS", "DIMS", "GROUP_FIELDS", "LINEAR", "PRICED", "TRAFFIC_FIELDS", "Extras", "level_bits", "price", "LOOP_ORDERS", "ORDERS", "SPATIAL", "Group", "Mapping", "Shapes",
    "Traffic", "choose_mapping", "count_traffic", "mapped_traffic", "array_pass", "fetched", "footprint_bits", "input_pass", "multipliers",
    "pe_reuse", "unroll", "window",
]  # fmt: skip
