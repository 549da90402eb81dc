"""Layer-shape extraction: any network -> one :class:`~hwsim.workload.table.LayerTable`, a row per
compute layer. Shapes only: the costs are computed from the table by :mod:`hwsim.costs`.

The walk runs the model's real ``forward`` on the *meta* device (shapes only, no arithmetic, no
memory), through :func:`torch.func.functional_call` so the user's module is left untouched, and records
every conv and linear call with forward hooks. Torch's own meta kernels are slow (Python
decompositions, ~0.1-0.3 ms per op), so :class:`ShapeOnlyMode` answers the common ops (conv, linear,
norms, activations, element-wise arithmetic, pooling, flatten) from closed-form shape rules and
leaves every other op to the meta kernels, which keeps the walk exact for any module.

Parameter-only layers (BN, dual BN, OAT FiLM) are tied to a row by data flow: every tensor of the
walk remembers the conv or linear call that produced it, and element-wise ops, norms and FiLMs
pass that producer on (a binary op takes it from its first operand that has one, i.e. the branch
computed in the expression ``conv(x) + identity``). A norm or FiLM is tied to the producer of the
tensor it consumes; one whose input has no producer is listed in ``attrs["untied"]`` (and its
parameters stay in ``other_params``), never guessed. A slimmable network is walked at SF 1.0; the
layers private to its other widths never run, and their parameters are ``other_params`` too.

Rows: ``op`` is ``conv``, ``linear`` or ``film_linear`` (one row per FiLM MLP linear, with
``conditions`` naming the conv whose output it modulates). Every parameter is counted once:
``weight_params`` + ``bias_params`` on every row (FiLM linears included), plus ``bn_params`` and
``alpha_params`` on the conv they follow. ``film_params`` on a conv row is a cross-reference (the
parameters of the FiLM that modulates its output, already counted on the film_linear rows). The
columns are declared, with units, in :data:`hwsim.workload.table.SCHEMA`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import functional_call
from torch.nn.modules.utils import _pair
from torch.overrides import TorchFunctionMode

from ..nets.conditioning import DualBatchNorm2d, FiLM, NoisyConv2d, set_condition
from .table import PARAM_COLUMNS, SCHEMA, LayerTable

_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.GroupNorm, nn.LayerNorm, DualBatchNorm2d)


@dataclass
class _Row:
    name: str
    op: str
    module: nn.Module
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    bn_params: int = 0
    film_params: int = 0
    film_channels: int = 0
    conditions: str = ""
    shared_call: bool = False


def _own_params(module: nn.Module) -> int:
    """Parameters of a small module and its children (cheaper than ``module.parameters()``)."""
    count = sum(p.numel() for p in module._parameters.values() if p is not None)
    return count + sum(_own_params(child) for child in module._modules.values() if child is not None)


def _spatial(shape: tuple[int, ...], op: str) -> tuple[int, int]:
    """(H, W) of an activation. A conv map is N x C x H x W; a linear layer's input or output is
    N x ... x F, whose positions (the middle dimensions, e.g. tokens) count as a 1 x P map."""
    if op == "conv":
        return (shape[-2], shape[-1]) if len(shape) >= 4 else (1, 1)
    return 1, int(np.prod(shape[1:-1])) if len(shape) > 2 else 1


def _shape(value) -> tuple[int, ...]:
    return tuple(value.shape) if isinstance(value, torch.Tensor) else ()


def _arg(args, kwargs, index: int, name: str, default):
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def _conv2d_shape(args, kwargs) -> tuple[int, ...]:
    x, w = args[0], _arg(args, kwargs, 1, "weight", None)
    stride = _pair(_arg(args, kwargs, 3, "stride", 1))
    padding = _arg(args, kwargs, 4, "padding", 0)
    dilation = _pair(_arg(args, kwargs, 5, "dilation", 1))
    n, h, wd = x.shape[0], x.shape[-2], x.shape[-1]
    if padding == "same":
        return (n, w.shape[0], h, wd)
    pad = (0, 0) if padding == "valid" else _pair(padding)
    out = [
        (size + 2 * p - d * (k - 1) - 1) // s + 1
        for size, p, d, k, s in zip((h, wd), pad, dilation, w.shape[-2:], stride)
    ]
    return (n, w.shape[0], *out)


def _linear_shape(args, kwargs) -> tuple[int, ...]:
    return (*args[0].shape[:-1], _arg(args, kwargs, 1, "weight", None).shape[0])


def _pool_shape(args, kwargs) -> tuple[int, ...]:
    size = _pair(_arg(args, kwargs, 1, "output_size", None))
    x = args[0]
    return (*x.shape[:-2], *(x.shape[-2 + i] if s is None else s for i, s in enumerate(size)))


def _flatten_shape(args, kwargs) -> tuple[int, ...]:
    shape = args[0].shape
    start = _arg(args, kwargs, 1, "start_dim", 0) % max(len(shape), 1)
    end = _arg(args, kwargs, 2, "end_dim", -1) % max(len(shape), 1)
    return (*shape[:start], int(np.prod(shape[start : end + 1])), *shape[end + 1 :])


def _same_shape(args, kwargs) -> tuple[int, ...]:
    return tuple(args[0].shape)


def _broadcast_shape(args, kwargs) -> tuple[int, ...]:
    a, b = _shape(args[0]), _shape(_arg(args, kwargs, 1, "other", None))
    if a == b or not b:
        return a
    return tuple(torch.broadcast_shapes(a, b))


_F = torch.nn.functional
_T = torch.Tensor
_SAME = (
    _F.relu, torch.relu, _T.relu, _F.relu_, torch.relu_, _T.relu_, _F.leaky_relu, _F.leaky_relu_,
    _F.gelu, _F.silu, _F.elu, _F.relu6, _F.hardtanh, torch.sigmoid, torch.tanh, _T.sigmoid, _T.tanh,
    _F.batch_norm, _F.layer_norm, _F.group_norm, _F.instance_norm, _F.dropout, _F.dropout2d,
    _T.contiguous, _T.clone,
)  # fmt: skip
_BINARY = (
    torch.add, _T.add, _T.add_, _T.__add__, _T.__radd__, _T.__iadd__, torch.sub, _T.sub, _T.__sub__,
    torch.mul, _T.mul, _T.mul_, _T.__mul__, _T.__rmul__, _T.__imul__, _T.__truediv__, torch.div, _T.div,
)  # fmt: skip
_SHAPE_RULES = {
    **{f: _same_shape for f in _SAME},
    **{f: _broadcast_shape for f in _BINARY},
    _F.conv2d: _conv2d_shape,
    torch.conv2d: _conv2d_shape,
    _F.linear: _linear_shape,
    _F.adaptive_avg_pool2d: _pool_shape,
    _F.adaptive_max_pool2d: _pool_shape,
    torch.flatten: _flatten_shape,
    _T.flatten: _flatten_shape,
}


def _tensors(values) -> Iterator[torch.Tensor]:
    for value in values:
        if isinstance(value, torch.Tensor):
            yield value
        elif isinstance(value, (list, tuple)):
            yield from _tensors(value)


class ShapeOnlyMode(TorchFunctionMode):
    """Answer common ops on meta tensors from shape rules; everything else runs torch's meta kernels.

    Only valid when every tensor in the forward pass is on the meta device (no values exist). Also
    tracks data flow: ``producer[id(t)]`` is the row whose output ``t`` derives from.
    """

    def __init__(self) -> None:
        super().__init__()
        self.producer: dict[int, _Row] = {}
        self._alive: list[torch.Tensor] = []  # keeps ids unique for the whole walk

    def mark(self, tensor: torch.Tensor, row: _Row) -> None:
        self.producer[id(tensor)] = row
        self._alive.append(tensor)

    def source(self, tensor) -> _Row | None:
        return self.producer.get(id(tensor)) if isinstance(tensor, torch.Tensor) else None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        rule = _SHAPE_RULES.get(func)
        if rule is not None and isinstance(args[0], torch.Tensor) and args[0].is_meta:
            out = torch.empty(rule(args, kwargs), device="meta", dtype=args[0].dtype)
        else:
            out = func(*args, **kwargs)
        if isinstance(out, torch.Tensor) and id(out) not in self.producer:
            row = next((r for r in map(self.source, _tensors(args)) if r is not None), None)
            if row is not None:
                self.mark(out, row)
        return out


def extract_layers(
    model: nn.Module,
    input_shape: tuple[int, ...] = (3, 32, 32),
    *,
    lam: float = 1.0,
    lambda_th: float = 0.0,
) -> LayerTable:
    """Walk ``model`` once on the meta device and return its layer table (shapes only).

    Args:
        model: an hwsim network or any ``nn.Module`` built from standard layers.
        input_shape: one sample's shape without batch, e.g. (3, 32, 32).
        lam: conditioning used for the walk (FLOAT's noise and dual-BN choice do not change shapes).
        lambda_th: FLOAT's threshold, passed to :func:`~hwsim.nets.set_condition`.

    Returns a :class:`LayerTable` of :data:`~hwsim.workload.table.SCHEMA`. ``attrs`` holds
    ``model_params`` (all of the model's parameters, counted directly), ``other_params``
    (parameters no row accounts for, e.g. in a user's custom layer) and ``untied`` (norm and FiLM
    modules whose input no conv or linear produced), so nothing is silently dropped or guessed.

    A slimmable network is walked at full width (SF 1.0): its rows are the full network's, and the
    BNs / FiLMs private to the other widths (:class:`~hwsim.nets.conditioning.SwitchableBatchNorm2d`,
    :class:`~hwsim.nets.conditioning.SwitchableFiLM`) never run, so their parameters are in ``other_params``.
    """
    named = list(model.named_modules())
    params = list(model.parameters())
    names = {id(m): n for n, m in named}
    inner_of_dual = {id(sub) for _, m in named if isinstance(m, DualBatchNorm2d) for sub in m.children()}
    film_of = {id(sub): m for _, m in named if isinstance(m, FiLM) for sub in (m.fc1, m.fc2)}

    rows: list[_Row] = []
    untied: list[str] = []
    claimed: set[int] = set()
    calls: dict[int, int] = {}
    mode = ShapeOnlyMode()

    def hook(module: nn.Module, args, output) -> None:
        key = id(module)
        if key in claimed or key in inner_of_dual or key not in names:
            return  # BN and FiLM parameters count once; BN_C / BN_A count via their DualBN
        first = args[0] if args else None
        in_shape = tuple(first.shape) if isinstance(first, torch.Tensor) else ()
        out_shape = tuple(output.shape) if isinstance(output, torch.Tensor) else ()
        name = names[key]
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            # A layer called again (weight sharing) is another row: its MACs and delay recur,
            # its weights are stored once (``shared_call`` rows carry no parameters).
            calls[key] = calls.get(key, 0) + 1
            film = film_of.get(key)
            op = "conv" if isinstance(module, nn.Conv2d) else "film_linear" if film else "linear"
            row = _Row(name if calls[key] == 1 else f"{name}#{calls[key]}", op, module, in_shape, out_shape)
            row.shared_call = calls[key] > 1
            if film:
                row.conditions = film_target.get(id(film), "")
            elif isinstance(output, torch.Tensor):
                mode.mark(output, row)
            rows.append(row)
        elif isinstance(module, (*_NORMS, FiLM)):
            claimed.add(key)
            tied = mode.source(first)
            if tied is None:
                untied.append(name)
            elif isinstance(module, FiLM):
                tied.film_channels = module.channels
                tied.film_params += _own_params(module)
                film_target[key] = tied.name
            else:
                tied.bn_params += _own_params(module)

    film_target: dict[int, str] = {}

    # A FiLM's linears run inside its forward, before its hook: tie them to its input's producer
    # when the FiLM starts (a forward pre-hook), so their ``conditions`` is known when they run.
    def pre_hook(module: nn.Module, args) -> None:
        if isinstance(module, FiLM) and id(module) not in claimed:
            tied = mode.source(args[0] if args else None)
            if tied is not None:
                film_target[id(module)] = tied.name

    # One global hook (not one per module): registration costs more than the walk itself.
    handles = [
        torch.nn.modules.module.register_module_forward_hook(hook),
        torch.nn.modules.module.register_module_forward_pre_hook(pre_hook),
    ]
    previous = _snapshot_state(model)
    try:
        if set_condition(model, lam, lambda_th) is not None:
            model.state.noise_scale = 0.0  # noise never changes a shape: skip drawing it
            model.state.width = 1.0  # a slimmable network is walked at full width
        x = torch.empty((1, *input_shape), device="meta")
        tensors = [*params, *model.buffers()]
        on_meta = all(t.is_meta for t in tensors)
        with torch.no_grad(), mode:
            if on_meta:
                model(x)
            else:  # leave the user's tensors alone: run on meta stand-ins
                meta = {n: torch.empty_like(t, device="meta") for n, t in model.named_parameters()}
                meta.update({n: torch.empty_like(t, device="meta") for n, t in model.named_buffers()})
                functional_call(model, meta, (x,), strict=False)
    finally:
        for handle in handles:
            handle.remove()
        _restore_state(model, previous)

    table = _to_table(rows)
    model_params = sum(p.numel() for p in params)
    attributed = int(sum(table[c].sum() for c in PARAM_COLUMNS))
    table.attrs.update(
        model_params=model_params,
        other_params=model_params - attributed,
        input_shape=tuple(int(v) for v in input_shape),
        untied=untied,
    )
    return table


def _snapshot_state(model: nn.Module):
    state = getattr(model, "state", None)
    return None if state is None else (state.lam, state.bn, state.noise_scale, state.width)


def _restore_state(model: nn.Module, snapshot) -> None:
    if snapshot is not None:
        model.state.lam, model.state.bn, model.state.noise_scale, model.state.width = snapshot


def _conv_geometry(m: nn.Conv2d) -> tuple[int, ...]:
    """(stride_h, stride_w, padding_h, padding_w, dilation_h, dilation_w); 'same' resolved to the
    left/top padding PyTorch applies, 'valid' to 0."""
    (sh, sw), (dh, dw) = m.stride, m.dilation
    if m.padding == "same":
        ph, pw = ((d * (k - 1)) // 2 for d, k in zip(m.dilation, m.kernel_size))
    elif m.padding == "valid":
        ph = pw = 0
    else:
        ph, pw = m.padding
    return sh, sw, ph, pw, dh, dw


def _to_table(rows: list[_Row]) -> LayerTable:
    columns: dict[str, list] = {c.name: [] for c in SCHEMA}
    for r in rows:
        m = r.module
        in_h, in_w = _spatial(r.in_shape, r.op)
        out_h, out_w = _spatial(r.out_shape, r.op)
        if isinstance(m, nn.Conv2d):
            kh, kw = m.kernel_size
            cin, cout, groups = m.in_channels, m.out_channels, m.groups
            geometry = _conv_geometry(m)
        else:
            kh = kw = groups = 1
            cin, cout = m.in_features, m.out_features
            geometry = (1, 1, 0, 0, 1, 1)
        # FLOAT's rm variant (RandomMaskConv2d): masks, no noise; a dense conv with its (unused) alpha
        has_alpha = isinstance(m, NoisyConv2d)
        noisy = has_alpha and not getattr(m, "random_masks", False)
        stored = not r.shared_call
        values = dict(
            name=r.name, op=r.op, kernel_h=kh, kernel_w=kw, in_channels=cin, out_channels=cout, groups=groups,
            **dict(zip(("stride_h", "stride_w", "padding_h", "padding_w", "dilation_h", "dilation_w"), geometry)),
            in_h=in_h, in_w=in_w, out_h=out_h, out_w=out_w,
            weight_params=m.weight.numel() * stored, bias_params=(0 if m.bias is None else m.bias.numel()) * stored,
            noisy=noisy, alpha_params=int(has_alpha and stored), bn_params=r.bn_params, film_params=r.film_params,
            film_channels=r.film_channels, conditions=r.conditions, density=1.0,
            full_in_channels=cin, full_out_channels=cout,
        )  # fmt: skip
        for column, value in values.items():
            columns[column].append(value)
    return LayerTable(columns)
