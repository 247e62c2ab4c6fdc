"""The prompt encoder: clicks and box corners to sparse tokens, a mask to a dense map."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .common import LayerNorm2d
from .position_encoding import PositionEmbeddingRandom

# Point labels: 1 positive click, 0 negative click, 2/3 box top-left/bottom-right corner,
# -1 padding (not a point).
NOT_A_POINT = -1


class PromptEncoder(nn.Module):
    """Encodes points (with labels), boxes and low-resolution mask prompts."""

    def __init__(
        self,
        embed_dim: int,
        image_embedding_size: tuple[int, int],
        input_image_size: tuple[int, int],
        mask_in_chans: int,
    ) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.image_embedding_size = image_embedding_size
        self.input_image_size = input_image_size
        self.pe_layer = PositionEmbeddingRandom(embed_dim // 2)
        # One learned embedding per label: negative, positive, box corner 1, box corner 2.
        self.point_embeddings = nn.ModuleList(nn.Embedding(1, embed_dim) for _ in range(4))
        self.not_a_point_embed = nn.Embedding(1, embed_dim)
        self.mask_input_size = (4 * image_embedding_size[0], 4 * image_embedding_size[1])
        self.mask_downscaling = nn.Sequential(
            nn.Conv2d(1, mask_in_chans // 4, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans // 4),
            nn.GELU(),
            nn.Conv2d(mask_in_chans // 4, mask_in_chans, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans),
            nn.GELU(),
            nn.Conv2d(mask_in_chans, embed_dim, kernel_size=1),
        )
        self.no_mask_embed = nn.Embedding(1, embed_dim)
        self._dense_pe: tuple[tuple, Tensor] | None = None

    def get_dense_pe(self) -> Tensor:
        """Position encoding of the image embedding grid, (1, C, h, w).

        It is the same for every prompt, so it is kept until the random matrix it comes
        from changes (a checkpoint load writes it in place, which bumps its version). A
        model built under inference mode has parameters without versions, and a graph
        being exported has no data: no cache then.
        """
        matrix = self.pe_layer.positional_encoding_gaussian_matrix
        if matrix.is_inference() or torch.compiler.is_compiling():
            return self.pe_layer(self.image_embedding_size).unsqueeze(0)
        key = (matrix.data_ptr(), matrix._version, self.image_embedding_size, torch.is_inference_mode_enabled())
        if self._dense_pe is None or self._dense_pe[0] != key:
            self._dense_pe = (key, self.pe_layer(self.image_embedding_size).unsqueeze(0))
        return self._dense_pe[1]

    def _embed_points(self, points: Tensor, labels: Tensor, pad: bool) -> Tensor:
        points = points + 0.5  # pixel centres
        if pad:
            # Without a box the decoder expects one extra "not a point" token.
            points = torch.cat([points, torch.zeros_like(points[:, :1])], dim=1)
            labels = torch.cat([labels, torch.full_like(labels[:, :1], NOT_A_POINT)], dim=1)
        emb = self.pe_layer.forward_with_coords(points, self.input_image_size)  # (B, N, C)
        emb = torch.where((labels == NOT_A_POINT)[..., None], self.not_a_point_embed.weight, emb)
        for label, table in enumerate(self.point_embeddings):
            emb = emb + (labels == label)[..., None] * table.weight
        return emb

    def _embed_boxes(self, boxes: Tensor) -> Tensor:
        corners = (boxes + 0.5).reshape(-1, 2, 2)
        emb = self.pe_layer.forward_with_coords(corners, self.input_image_size)  # (B, 2, C)
        return emb + torch.cat([self.point_embeddings[2].weight, self.point_embeddings[3].weight])

    def forward(
        self,
        points: tuple[Tensor, Tensor] | None,
        boxes: Tensor | None,
        masks: Tensor | None,
    ) -> tuple[Tensor, Tensor]:
        """Return sparse (B, N, C) and dense (B, C, h, w) prompt embeddings."""
        if points is not None:
            batch = points[0].shape[0]
        elif boxes is not None:
            batch = boxes.shape[0]
        elif masks is not None:
            batch = masks.shape[0]
        else:
            batch = 1
        device = self.no_mask_embed.weight.device
        sparse = torch.empty((batch, 0, self.embed_dim), device=device)
        if points is not None:
            coords, labels = points
            sparse = torch.cat([sparse, self._embed_points(coords, labels, pad=boxes is None)], dim=1)
        if boxes is not None:
            sparse = torch.cat([sparse, self._embed_boxes(boxes)], dim=1)
        if masks is not None:
            # Channels-last, like the image embedding it is added to (a mixed-layout add is slow).
            # (A one-channel input has no layout to speak of: the first output sets it.)
            first, rest = self.mask_downscaling[0], self.mask_downscaling[1:]
            dense = rest(first(masks).contiguous(memory_format=torch.channels_last))
        else:
            h, w = self.image_embedding_size
            dense = self.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(batch, -1, h, w)
        return sparse, dense
