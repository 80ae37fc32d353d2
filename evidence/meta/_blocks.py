"""Block-diagonal linear algebra for models with dependent effect sizes (private).

The marginal covariance ``M = V + sum_l sigma2_l Z_l Z_l'`` of a multilevel model couples two
effects only when they share a level of some random effect or a non-zero entry of ``V``. The
effects therefore split into independent blocks (the connected components of that relation:
the outermost clusters of a nested design). Blocks of equal size are stacked into one array,
so every product, inverse and determinant is a batched call over ``(n_blocks, s, s)`` arrays:
the cost grows with ``sum n_i^3`` over blocks, never with ``k^2`` or ``k^3``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

__all__ = ["SizeGroup", "Blocks", "build_blocks"]


@dataclass
class SizeGroup:
    """All blocks of one size ``s``: row indices and the stacked pieces of the model."""

    idx: np.ndarray  # (nb, s) rows of the data, sorted within a block
    y: np.ndarray  # (nb, s)
    X: np.ndarray  # (nb, s, p)
    V: np.ndarray  # (nb, s, s)
    G: np.ndarray  # (L, nb, s, s): 1 where two effects share a level of component l


@dataclass
class Blocks:
    k: int
    p: int
    L: int
    groups: list[SizeGroup]
    block_of: np.ndarray  # (k,) block number of each row

    def stack(self, sigma2: np.ndarray):
        """``M`` of every group at ``sigma2``."""
        out = []
        for g in self.groups:
            M = g.V.copy()
            for l in range(self.L):
                if sigma2[l] != 0.0:
                    M += sigma2[l] * g.G[l]
            out.append(M)
        return out


def build_blocks(y: np.ndarray, X: np.ndarray, V, codes: list[np.ndarray]) -> Blocks:
    """Split the data into independent blocks.

    ``V`` is a ``scipy.sparse`` matrix (k x k); ``codes`` one integer level code per row for
    each variance component.
    """
    k, p = X.shape
    Vc = sparse.coo_matrix(V)
    # graph on rows + one node per level of each component: a row links to its levels
    offsets = np.cumsum([0] + [int(c.max()) + 1 for c in codes])
    n_nodes = k + int(offsets[-1])
    r_parts = [Vc.row.astype(np.int64)]
    c_parts = [Vc.col.astype(np.int64)]
    for off, c in zip(offsets[:-1], codes):
        r_parts.append(np.arange(k, dtype=np.int64))
        c_parts.append(k + off + c.astype(np.int64))
    rows = np.concatenate(r_parts)
    cols = np.concatenate(c_parts)
    graph = sparse.coo_matrix((np.ones(rows.size), (rows, cols)), shape=(n_nodes, n_nodes))
    _, labels = connected_components(graph, directed=False)
    block_of = np.unique(labels[:k], return_inverse=True)[1].reshape(-1)
    n_blocks = int(block_of.max()) + 1
    sizes = np.bincount(block_of, minlength=n_blocks)
    order = np.lexsort((np.arange(k), block_of))  # rows grouped by block, in input order
    pos = np.empty(k, dtype=np.int64)  # position of each row within its block
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    pos[order] = np.arange(k) - np.repeat(starts, sizes)
    # group number and slot within the size group of each block
    groups = []
    slot_of_block = np.empty(n_blocks, dtype=np.int64)
    group_of_block = np.empty(n_blocks, dtype=np.int64)
    Vd = Vc.data
    for gi, s in enumerate(np.unique(sizes)):
        blocks = np.flatnonzero(sizes == s)
        slot_of_block[blocks] = np.arange(blocks.size)
        group_of_block[blocks] = gi
        idx = order[(starts[blocks][:, None] + np.arange(s)[None, :])]
        G = np.empty((len(codes), blocks.size, s, s))
        for l, c in enumerate(codes):
            cc = c[idx]
            G[l] = cc[:, :, None] == cc[:, None, :]
        groups.append(SizeGroup(idx=idx, y=y[idx], X=X[idx], V=np.zeros((blocks.size, s, s)),
                                G=G))
    # scatter the entries of V into their blocks (each entry lies within one block)
    b_r = block_of[Vc.row]
    g_r = group_of_block[b_r]
    for gi, g in enumerate(groups):
        sel = g_r == gi
        np.add.at(g.V, (slot_of_block[b_r[sel]], pos[Vc.row[sel]], pos[Vc.col[sel]]), Vd[sel])
    return Blocks(k=k, p=p, L=len(codes), groups=groups, block_of=block_of)
