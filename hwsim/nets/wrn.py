"""Pre-activation Wide ResNets (WRN16-8, WRN40-2; Zagoruyko & Komodakis 2016), one backbone.

Each block is BN-(FiLM)-ReLU-conv-BN-(FiLM)-ReLU-(dropout)-conv plus the identity, or a 1x1 conv
shortcut of the pre-activated input where the shape changes. OAT puts a FiLM after bn1 and bn2 of
every block; FLOAT makes every conv noisy and every BN dual.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .conditioning import ConditionalNetwork, Conditioning


class WideBlock(nn.Module):
    def __init__(self, cond: Conditioning, in_ch: int, out_ch: int, stride: int, dropout: float) -> None:
        super().__init__()
        self.bn1 = cond.norm(in_ch)
        self.film1 = cond.film(in_ch)
        self.conv1 = cond.conv(in_ch, out_ch, 3, stride)
        self.bn2 = cond.norm(out_ch)
        self.film2 = cond.film(out_ch)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = cond.conv(out_ch, out_ch, 3, 1)
        self.shortcut = None
        if stride != 1 or in_ch != out_ch:
            self.shortcut = cond.conv(in_ch, out_ch, 1, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = F.relu(self.film1(self.bn1(x)))
        out = self.dropout(F.relu(self.film2(self.bn2(self.conv1(pre)))))
        out = self.conv2(out)
        # as the OAT reference: the residual branch, then the (projected) pre-activated input
        return out + (x if self.shortcut is None else self.shortcut(pre))


class WideResNet(ConditionalNetwork):
    """WRN-depth-widen: 3 groups of (depth - 4) / 6 blocks at 16k, 32k, 64k channels."""

    def __init__(
        self,
        depth: int,
        widen: int,
        num_classes: int,
        conditioning: Conditioning,
        dropout: float = 0.0,
        in_channels: int = 3,
    ) -> None:
        super().__init__(conditioning)
        if (depth - 4) % 6:
            raise ValueError(f"WRN depth must be 6n + 4, got {depth}")
        n = (depth - 4) // 6
        widths = (16 * widen, 32 * widen, 64 * widen)
        cond = conditioning
        self.conv1 = cond.conv(in_channels, 16, 3, 1)
        groups, in_ch = [], 16
        cond.n_stages = len(widths)
        for i, width in enumerate(widths):
            cond.stage = i  # which convs FLOAT's rm variant masks (Conditioning.rm_stage)
            stride = 1 if i == 0 else 2
            blocks = []
            for b in range(n):
                blocks.append(WideBlock(cond, in_ch, width, stride if b == 0 else 1, dropout))
                in_ch = width
            groups.append(nn.Sequential(*blocks))
        cond.stage = None
        self.groups = nn.ModuleList(groups)
        self.bn = cond.norm(in_ch)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = cond.classifier(in_ch, num_classes)
        # PyTorch's default init, as in the OAT and FLOAT reference networks.

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(x)
        for group in self.groups:
            out = group(out)
        out = F.relu(self.bn(out))
        return self.fc(torch.flatten(self.pool(out), 1))
