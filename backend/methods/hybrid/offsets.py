"""Optional geometric stylization: vertex offsets along normals, kept smooth.

Each vertex moves along its normal by ``limit * tanh(d)`` (so no offset ever exceeds the
limit, a small fraction of the head's size), and a uniform-Laplacian penalty on the
displacements keeps neighbours moving together: the surface takes on relief, not noise.
A normal-consistency penalty counts only the bending an edit adds between neighbouring
faces (the head's own curvature costs nothing), which keeps faces from folding over.
"""

from __future__ import annotations

import numpy as np
import torch
import trimesh
from torch import nn


class VertexOffsets(nn.Module):
    def __init__(self, vertices: np.ndarray, faces: np.ndarray, limit: float, device):
        super().__init__()
        mesh = trimesh.Trimesh(vertices, faces, process=False)
        self.limit = limit
        self.register_buffer("vertices", torch.tensor(vertices, dtype=torch.float32))
        self.register_buffer("normals", torch.tensor(mesh.vertex_normals, dtype=torch.float32))
        self.register_buffer("laplacian", _uniform_laplacian(len(vertices), mesh.edges_unique))
        self.register_buffer("faces", torch.tensor(faces, dtype=torch.long))
        self.register_buffer("adjacent", torch.tensor(mesh.face_adjacency, dtype=torch.long))
        self.register_buffer("face_normals", self._face_normals(self.vertices))
        self.register_buffer("cosines", self._adjacent_cosines(self.face_normals))
        self.amount = nn.Parameter(torch.zeros(len(vertices)))
        self.to(device)

    def displacement(self) -> torch.Tensor:
        return (self.limit * torch.tanh(self.amount))[:, None] * self.normals

    def forward(self) -> torch.Tensor:
        """Displaced vertex positions (V, 3)."""
        return self.vertices + self.displacement()

    def roughness(self) -> torch.Tensor:
        """Mean squared Laplacian of the displacement, relative to the limit squared."""
        lap = torch.sparse.mm(self.laplacian, self.displacement())
        return lap.pow(2).sum(-1).mean() / self.limit**2

    def _face_normals(self, vertices: torch.Tensor) -> torch.Tensor:
        corners = vertices[self.faces]
        normals = torch.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0], dim=-1)
        return torch.nn.functional.normalize(normals, dim=-1, eps=1e-12)

    def _adjacent_cosines(self, normals: torch.Tensor) -> torch.Tensor:
        """Cosine between the normals of each pair of faces sharing an edge."""
        return (normals[self.adjacent[:, 0]] * normals[self.adjacent[:, 1]]).sum(-1)

    def bending(self, vertices: torch.Tensor) -> torch.Tensor:
        """Bending added between neighbouring faces, relative to the head's own, plus a
        barrier on every face turned more than 45 degrees from where it faced: summed,
        not averaged, so that one small face folding over is never worth a better look
        elsewhere (Adam scales each vertex's step, so only the sign at a vertex counts)."""
        normals = self._face_normals(vertices)
        added = (self.cosines - self._adjacent_cosines(normals)).clamp(min=0).mean()
        turned = (0.7 - (normals * self.face_normals).sum(-1)).clamp(min=0).sum()
        return added / (1.0 - self.cosines).mean().clamp(min=1e-6) + turned


def _uniform_laplacian(count: int, edges: np.ndarray) -> torch.Tensor:
    """L = I - D^-1 A as a sparse (V, V) matrix."""
    both = np.concatenate([edges, edges[:, ::-1]])
    degree = np.bincount(both[:, 0], minlength=count).astype(np.float32)
    weights = -1.0 / np.maximum(degree[both[:, 0]], 1.0)
    rows = np.concatenate([both[:, 0], np.arange(count)])
    cols = np.concatenate([both[:, 1], np.arange(count)])
    values = np.concatenate([weights, np.ones(count, np.float32)])
    index = torch.tensor(np.stack([rows, cols]), dtype=torch.long)
    matrix = torch.sparse_coo_tensor(
        index, torch.tensor(values), (count, count), check_invariants=True
    )
    return matrix.coalesce()
