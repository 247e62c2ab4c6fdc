"""RepViT: the mobile CNN that EdgeTAM's image encoder uses as its trunk.

A RepViT block mixes tokens with a depthwise convolution made of three parallel
branches (3x3 with batch norm, 1x1 with batch norm, identity), re-weights channels by
squeeze-excitation in every other block, then mixes channels with a 1x1 two-layer MLP
and a residual. Stages two to four open with a downsampling block (a block, a stride-2
depthwise convolution, a 1x1 widening, an MLP). Parameter names follow the official
checkpoint, where the trunk is timm's `repvit_m1` as a feature extractor
(`body.stem`, `body.stages_0` ... `body.stages_3`).

In eval mode the batch norms are folded into their convolutions and the three branches
into one convolution (the re-parameterisation RepViT is named for): the same function
with a third of the convolutions. The folded weights are derived, never stored: a load
or a return to training drops them, and the next eval forward folds again.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import RepViTConfig


class ConvBN(nn.Sequential):
    """A bias-free convolution `c` and its batch norm `bn`; one biased convolution in eval."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 1, stride: int = 1, groups: int = 1) -> None:
        super().__init__()
        self.add_module("c", nn.Conv2d(in_ch, out_ch, kernel_size, stride, (kernel_size - 1) // 2, groups=groups, bias=False))
        self.add_module("bn", nn.BatchNorm2d(out_ch))
        self._folded: tuple[Tensor, Tensor] | None = None

    def folded(self) -> tuple[Tensor, Tensor]:
        """The weight and bias of the one convolution equal to conv then batch norm (eval)."""
        if self._folded is None:
            with torch.inference_mode(False), torch.no_grad():  # plain tensors, usable anywhere
                bn = self.bn
                scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # (C_out,)
                self._folded = (self.c.weight * scale[:, None, None, None], bn.bias - bn.running_mean * scale)
        return self._folded

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            return self.bn(self.c(x))
        weight, bias = self.folded()
        c = self.c
        return F.conv2d(x, weight, bias, c.stride, c.padding, c.dilation, c.groups)


class RepVggDw(nn.Module):
    """The token mixer: depthwise k x k + depthwise 1x1 + identity, summed."""

    def __init__(self, dim: int, kernel_size: int) -> None:
        super().__init__()
        self.conv = ConvBN(dim, dim, kernel_size, groups=dim)
        self.conv1 = ConvBN(dim, dim, 1, groups=dim)
        self._folded: tuple[Tensor, Tensor] | None = None

    def folded(self) -> tuple[Tensor, Tensor]:
        """The three branches as one depthwise k x k convolution (eval)."""
        if self._folded is None:
            with torch.inference_mode(False), torch.no_grad():
                w, b = self.conv.folded()  # (C, 1, k, k)
                w1, b1 = self.conv1.folded()  # (C, 1, 1, 1)
                k = w.shape[-1]
                centre = torch.zeros_like(w)
                centre[:, :, k // 2, k // 2] = w1[:, :, 0, 0] + 1.0  # the 1x1 branch and the identity
                self._folded = (w + centre, b + b1)
        return self._folded

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            return self.conv(x) + self.conv1(x) + x
        weight, bias = self.folded()
        return F.conv2d(x, weight, bias, 1, self.conv.c.padding, 1, x.shape[1])


def _divisible(value: float, divisor: int = 8) -> int:
    """`value` rounded to a multiple of `divisor` (at least one), as the trunk's SE widths are."""
    return max(divisor, int(value + divisor / 2) // divisor * divisor)


class SqueezeExcite(nn.Module):
    """Channel re-weighting from the globally pooled map: 1x1 conv, ReLU, 1x1 conv, sigmoid."""

    def __init__(self, dim: int, ratio: float) -> None:
        super().__init__()
        hidden = _divisible(dim * ratio)
        self.fc1 = nn.Conv2d(dim, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        s = x.mean((2, 3), keepdim=True)  # (B, C, 1, 1)
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(s))))


class Mlp(nn.Module):
    """The channel mixer: 1x1 conv (widened), GELU, 1x1 conv back."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.conv1 = ConvBN(dim, hidden)
        self.act = nn.GELU()
        self.conv2 = ConvBN(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv2(self.act(self.conv1(x)))


class RepViTBlock(nn.Module):
    """Token mixer, optional squeeze-excitation, then the channel mixer with a residual."""

    def __init__(self, dim: int, mlp_ratio: int, kernel_size: int, se_ratio: float | None) -> None:
        super().__init__()
        self.token_mixer = RepVggDw(dim, kernel_size)
        self.se = SqueezeExcite(dim, se_ratio) if se_ratio else nn.Identity()
        self.channel_mixer = Mlp(dim, dim * mlp_ratio)

    def forward(self, x: Tensor) -> Tensor:
        x = self.se(self.token_mixer(x))
        return x + self.channel_mixer(x)


class Downsample(nn.Module):
    """Halve the resolution and widen: a block, a stride-2 depthwise conv, a 1x1 conv, an MLP."""

    def __init__(self, in_dim: int, out_dim: int, mlp_ratio: int, kernel_size: int) -> None:
        super().__init__()
        self.pre_block = RepViTBlock(in_dim, mlp_ratio, kernel_size, se_ratio=None)
        self.spatial_downsample = ConvBN(in_dim, in_dim, kernel_size, stride=2, groups=in_dim)
        self.channel_downsample = ConvBN(in_dim, out_dim)
        self.ffn = Mlp(out_dim, out_dim * mlp_ratio)

    def forward(self, x: Tensor) -> Tensor:
        x = self.channel_downsample(self.spatial_downsample(self.pre_block(x)))
        return x + self.ffn(x)


class Stem(nn.Module):
    """Two stride-2 3x3 convolutions: the image at a quarter of its size."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv1 = ConvBN(3, dim // 2, 3, stride=2)
        self.act1 = nn.GELU()
        self.conv2 = ConvBN(dim // 2, dim, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv2(self.act1(self.conv1(x)))


class Stage(nn.Module):
    """An optional downsampling block, then blocks with squeeze-excitation in every other one."""

    def __init__(self, in_dim: int, dim: int, depth: int, cfg: RepViTConfig, downsample: bool) -> None:
        super().__init__()
        self.downsample = Downsample(in_dim, dim, cfg.mlp_ratio, cfg.kernel_size) if downsample else nn.Identity()
        self.blocks = nn.Sequential(
            *(RepViTBlock(dim, cfg.mlp_ratio, cfg.kernel_size, cfg.se_ratio if i % 2 == 0 else None) for i in range(depth))
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.blocks(self.downsample(x))


class RepViT(nn.Module):
    """The trunk: an image (B, 3, H, W) -> the four stages' maps, finest first
    [(B, C0, H/4, W/4), (B, C1, H/8, W/8), (B, C2, H/16, W/16), (B, C3, H/32, W/32)]."""

    def __init__(self, cfg: RepViTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        body = {"stem": Stem(cfg.embed_dims[0])}
        in_dim = cfg.embed_dims[0]
        for i, (dim, depth) in enumerate(zip(cfg.embed_dims, cfg.depths)):
            body[f"stages_{i}"] = Stage(in_dim, dim, depth, cfg, downsample=i > 0)
            in_dim = dim
        self.body = nn.ModuleDict(body)
        self.register_load_state_dict_post_hook(lambda module, keys: module.unfold())

    def unfold(self) -> None:
        """Drop the folded eval weights (after new weights are loaded, or in training)."""
        for m in self.modules():
            if isinstance(m, (ConvBN, RepVggDw)):
                m._folded = None

    def train(self, mode: bool = True) -> RepViT:
        if mode:
            self.unfold()  # the weights will change; eval folds them again
        return super().train(mode)

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self.body["stem"](x)
        outputs = []
        for i in range(len(self.cfg.embed_dims)):
            x = self.body[f"stages_{i}"](x)
            outputs.append(x)
        return outputs
