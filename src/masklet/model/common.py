"""Small layers shared by several blocks: channel LayerNorm, MLP, multi-head attention."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of a (B, C, H, W) map."""

    def __init__(self, num_channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))
        self.num_channels = num_channels  # a plain int: an exported graph keeps it constant
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
            # Channels are the innermost axis: a plain LayerNorm over it, with no copy.
            y = F.layer_norm(x.permute(0, 2, 3, 1), (self.num_channels,), self.weight, self.bias, self.eps)
            return y.permute(0, 3, 1, 2)
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class MLP(nn.Module):
    """`num_layers` linear layers with an activation between them."""

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int,
        output_dim: int,
        num_layers: int,
        activation: type[nn.Module] = nn.ReLU,
        sigmoid_output: bool = False,
    ) -> None:
        super().__init__()
        dims = [input_dim] + [hidden_dim] * (num_layers - 1) + [output_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.act = activation()
        self.sigmoid_output = sigmoid_output

    def forward(self, x: Tensor) -> Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = self.act(x)
        return torch.sigmoid(x) if self.sigmoid_output else x


class Attention(nn.Module):
    """Multi-head attention with separate q/k/v projections and an optional bottleneck.

    `downsample_rate` shrinks the inner width (the mask decoder's token<->image attention
    runs at 128 channels); `kv_in_dim` lets keys/values come from a narrower input
    (64-channel memories in memory attention).
    """

    def __init__(
        self,
        embedding_dim: int,
        num_heads: int,
        downsample_rate: int = 1,
        dropout: float = 0.0,
        kv_in_dim: int | None = None,
    ) -> None:
        super().__init__()
        kv_in_dim = kv_in_dim or embedding_dim
        self.internal_dim = embedding_dim // downsample_rate
        self.num_heads = num_heads
        if self.internal_dim % num_heads:
            raise ValueError("num_heads must divide embedding_dim // downsample_rate")
        self.q_proj = nn.Linear(embedding_dim, self.internal_dim)
        self.k_proj = nn.Linear(kv_in_dim, self.internal_dim)
        self.v_proj = nn.Linear(kv_in_dim, self.internal_dim)
        self.out_proj = nn.Linear(self.internal_dim, embedding_dim)
        self.dropout_p = dropout

    def split_heads(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        return x.reshape(b, n, self.num_heads, c // self.num_heads).transpose(1, 2)  # (B, h, N, c/h)

    def attend(self, q: Tensor, k: Tensor, v: Tensor, scale: float | None = None) -> Tensor:
        """Scaled dot-product attention of split heads, projected back to the model width.

        Channels beyond the head width (padding some callers add) are dropped first.
        """
        p = self.dropout_p if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=p, scale=scale)
        out = out[..., : self.internal_dim // self.num_heads]  # (B, h, Nq, c/h)
        b, h, n, c = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, n, h * c))

    def forward(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        head_dim = self.internal_dim // self.num_heads
        if self.dropout_p == 0.0 or not self.training:
            # The mask decoder's token<->image attentions have a handful of tokens on one
            # side and thousands of image positions on the other. With fewer tokens than a
            # head has channels, multiplying the image by the tokens' side of the
            # projections (instead of projecting every image position) does half the work.
            if k.shape[1] < head_dim and q.shape[1] >= 4 * self.internal_dim:
                return self._few_keys(q, k, v)
            if q.shape[1] < head_dim and k.shape[1] >= 4 * self.internal_dim:
                return self._few_queries(q, k, v)
        q = self.split_heads(self.q_proj(q))
        k = self.split_heads(self.k_proj(k))
        v = self.split_heads(self.v_proj(v))
        return self.attend(q, k, v)

    def _few_keys(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """Attention of many queries to a few keys, the same function reassociated:
        logits = q_in (W_q^T k) and out = softmax (v W_out^T), per head."""
        h, d = self.num_heads, self.internal_dim // self.num_heads
        b, nq, _ = q.shape
        nk = k.shape[1]
        keys = self.split_heads(self.k_proj(k))  # (B, h, Nk, d)
        values = self.split_heads(self.v_proj(v))  # (B, h, Nk, d)
        w_q = self.q_proj.weight.view(h, d, -1)  # (h, d, C)
        keys = keys * d**-0.5
        q_side = torch.einsum("bhnd,hdc->bhnc", keys, w_q).reshape(b, h * nk, -1)  # (B, h*Nk, C)
        bias = torch.einsum("bhnd,hd->bhn", keys, self.q_proj.bias.view(h, d)).reshape(b, 1, h * nk)
        logits = torch.bmm(q, q_side.transpose(1, 2)) + bias  # (B, Nq, h*Nk)
        attn = logits.view(b, nq, h, nk).softmax(-1).view(b, nq, h * nk)
        w_out = self.out_proj.weight.view(-1, h, d)  # (C_out, h, d)
        v_side = torch.einsum("bhnd,ohd->bhno", values, w_out).reshape(b, h * nk, -1)  # (B, h*Nk, C_out)
        return torch.bmm(attn, v_side) + self.out_proj.bias

    def _few_queries(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """Attention of a few queries to many keys, reassociated: logits = (q W_k) k_in^T
        (the key bias adds a constant per query, which softmax ignores) and the values'
        projection applied after the weighted sum (each row of weights sums to one)."""
        h, d = self.num_heads, self.internal_dim // self.num_heads
        b, nq, _ = q.shape
        queries = self.split_heads(self.q_proj(q))  # (B, h, Nq, d)
        w_k = self.k_proj.weight.view(h, d, -1)
        k_side = torch.einsum("bhnd,hdc->bhnc", queries * d**-0.5, w_k).reshape(b, h * nq, -1)  # (B, h*Nq, C)
        # Keys-major (B, Nk, h*Nq): a tall product runs faster on a CPU than a wide one.
        attn = torch.bmm(k, k_side.transpose(1, 2)).softmax(1)
        mixed = torch.bmm(attn.transpose(1, 2), v).view(b, h, nq, -1)  # (B, h, Nq, C_v)
        out = torch.einsum("bhnc,hdc->bnhd", mixed, self.v_proj.weight.view(h, d, -1)) + self.v_proj.bias.view(h, d)
        return self.out_proj(out.reshape(b, nq, h * d))
