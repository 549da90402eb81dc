"""CIFAR-layout ResNets (ResNet20, ResNet34) built from one backbone definition.

Layout: 3x3 stem conv + BN, stages of BasicBlocks, 1x1 conv + BN shortcut where the shape changes,
global average pooling and a linear classifier. The method's layers come from :class:`Conditioning`:
OAT puts a FiLM after every BN except the shortcut BN (ResNet34: 33 FiLMs), FLOAT makes every conv
noisy and every BN dual.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .conditioning import ConditionalNetwork, Conditioning


class BasicBlock(nn.Module):
    """conv-BN-FiLM-ReLU-conv-BN-FiLM, plus the (projected) identity, then ReLU."""

    def __init__(self, cond: Conditioning, in_ch: int, out_ch: int, stride: int) -> None:
        super().__init__()
        self.conv1 = cond.conv(in_ch, out_ch, 3, stride)
        self.bn1 = cond.norm(out_ch)
        self.film1 = cond.film(out_ch)
        self.conv2 = cond.conv(out_ch, out_ch, 3, 1)
        self.bn2 = cond.norm(out_ch)
        self.film2 = cond.film(out_ch)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(cond.conv(in_ch, out_ch, 1, stride), cond.norm(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.film1(self.bn1(self.conv1(x))))
        out = self.film2(self.bn2(self.conv2(out)))
        return F.relu(out + self.shortcut(x))


class ResNet(ConditionalNetwork):
    """CIFAR-style ResNet with BasicBlocks.

    Args:
        blocks: blocks per stage, e.g. (3, 4, 6, 3) for ResNet34, (3, 3, 3) for ResNet20.
        widths: channels per stage; the stem has ``widths[0]`` channels.
        num_classes: classifier outputs.
        conditioning: the method's layer factory.
        in_channels: image channels.
    """

    def __init__(
        self,
        blocks: tuple[int, ...],
        widths: tuple[int, ...],
        num_classes: int,
        conditioning: Conditioning,
        in_channels: int = 3,
    ) -> None:
        super().__init__(conditioning)
        cond = conditioning
        self.conv1 = cond.conv(in_channels, widths[0], 3, 1)
        self.bn1 = cond.norm(widths[0])
        self.film1 = cond.film(widths[0])
        stages, in_ch = [], widths[0]
        cond.n_stages = len(blocks)
        for i, (n_blocks, width) in enumerate(zip(blocks, widths)):
            cond.stage = i  # which convs FLOAT's rm variant masks (Conditioning.rm_stage)
            stride = 1 if i == 0 else 2
            layers = []
            for b in range(n_blocks):
                layers.append(BasicBlock(cond, in_ch, width, stride if b == 0 else 1))
                in_ch = width
            stages.append(nn.Sequential(*layers))
        cond.stage = None
        self.layers = nn.ModuleList(stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = cond.classifier(in_ch, num_classes)
        # PyTorch's default init, as in the OAT and FLOAT reference networks.

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.film1(self.bn1(self.conv1(x))))
        for stage in self.layers:
            out = stage(out)
        return self.fc(torch.flatten(self.pool(out), 1))
