"""Codebook vector quantizer (VQ-GAN style, learned by a codebook loss, no EMA) with dead-code restart.

MONAI's ``EMAQuantizer`` learns its codebook by exponential moving averages; the MSG-LDM autoencoder (Lin et al.,
arXiv 2603.12581, 2026; taming-transformers ``VectorQuantizer2(n_e=8192, e_dim=4, beta=0.25, legacy=True)``) learns
it by gradient through a codebook loss, which is what this module does.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn

logger = logging.getLogger(__name__)


class CodebookQuantizer(nn.Module):
    """Nearest-neighbour vector quantizer with straight-through gradients.

    Loss, with ``beta = commitment_cost``:

    - ``legacy=True`` (taming's default and the reference): ``mean((sg[z_q] - z)**2) + beta * mean((z_q - sg[z])**2)``,
      i.e. the commitment term has weight 1 and beta weights the codebook term (a historical quirk kept for fidelity);
    - ``legacy=False`` (van den Oord et al.): ``beta * mean((sg[z_q] - z)**2) + mean((z_q - sg[z])**2)``.

    Dead-code restart (not in the reference; guards against codebook collapse when training on few samples): in
    training mode, an entry that has not been the nearest neighbour of any encoder output for
    ``restart_after_steps`` consecutive forward passes is re-initialised to a randomly chosen encoder output of the
    current batch (drawn from torch's global generator, so ``torch.manual_seed`` makes it reproducible). The restart
    happens before the batch is quantized, so it never edits a tensor autograd has saved. It is off in eval mode and
    when ``restart_after_steps`` is None. Restarts are not synchronised across data-parallel processes.

    Args:
        num_embeddings: codebook size (8192 in the reference).
        embedding_dim: length of each code (4 in the reference).
        commitment_cost: beta (0.25).
        legacy: loss weighting, see above.
        restart_after_steps: idle steps after which a code is restarted; None disables restarts.
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        commitment_cost: float = 0.25,
        legacy: bool = True,
        restart_after_steps: int | None = 100,
    ):
        super().__init__()
        if num_embeddings < 1 or embedding_dim < 1:
            raise ValueError(f"num_embeddings and embedding_dim must be >= 1, got {num_embeddings}, {embedding_dim}")
        if restart_after_steps is not None and restart_after_steps < 1:
            raise ValueError(f"restart_after_steps must be >= 1 or None, got {restart_after_steps}")
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.commitment_cost = commitment_cost
        self.legacy = legacy
        self.restart_after_steps = restart_after_steps
        self.embedding = nn.Embedding(num_embeddings, embedding_dim)
        nn.init.uniform_(self.embedding.weight, -1.0 / num_embeddings, 1.0 / num_embeddings)  # taming's init
        self.register_buffer("steps_unused", torch.zeros(num_embeddings, dtype=torch.long))

    @torch.no_grad()
    def nearest_indices(self, flat: torch.Tensor) -> torch.Tensor:
        """Index of the nearest code of each row of flat (N, D), as (N,) long."""
        codebook = self.embedding.weight
        distances = (
            flat.pow(2).sum(dim=1, keepdim=True) + codebook.pow(2).sum(dim=1) - 2 * flat @ codebook.t()
        )  # (N, K)
        return distances.argmin(dim=1)

    @torch.no_grad()
    def _restart_dead_codes(self, flat: torch.Tensor) -> None:
        dead = torch.nonzero(self.steps_unused >= self.restart_after_steps).flatten()
        if dead.numel() == 0:
            return
        picks = torch.randint(flat.shape[0], (dead.numel(),), device=flat.device)
        self.embedding.weight[dead] = flat[picks].to(self.embedding.weight.dtype)
        self.steps_unused[dead] = 0
        logger.debug("restarted %d of %d codebook entries", dead.numel(), self.num_embeddings)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Quantize.

        Args:
            z: encoder output (B, D, *S).

        Returns:
            z_q (B, D, *S), equal to codebook entries (with straight-through gradient to z when z requires grad),
            the scalar VQ loss, and the code indices (B, *S) long.
        """
        if z.shape[1] != self.embedding_dim:
            raise ValueError(f"expected {self.embedding_dim} channels, got {z.shape[1]}")
        channels_last = z.movedim(1, -1)
        flat = channels_last.reshape(-1, self.embedding_dim)
        restarting = self.training and self.restart_after_steps is not None
        if restarting:
            self._restart_dead_codes(flat.detach())
        indices = self.nearest_indices(flat.detach())
        z_q = F.embedding(indices, self.embedding.weight).view_as(channels_last).movedim(-1, 1)
        commitment = torch.mean((z_q.detach() - z) ** 2)
        codebook = torch.mean((z_q - z.detach()) ** 2)
        if self.legacy:
            loss = commitment + self.commitment_cost * codebook
        else:
            loss = self.commitment_cost * commitment + codebook
        if restarting:
            with torch.no_grad():
                self.steps_unused += 1
                self.steps_unused[indices.unique()] = 0
        if z.requires_grad:
            z_q = z + (z_q - z).detach()
        return z_q, loss, indices.view(channels_last.shape[:-1])
