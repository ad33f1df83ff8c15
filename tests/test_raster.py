"""The rasterizer: visibility, interpolation, textures, gradients, and backend agreement."""

from __future__ import annotations

import pytest
import torch

from backend.raster import TorchRasterizer, make_rasterizer, nvdiffrast_available
from backend.raster.parity import compare

TORCH = make_rasterizer("torch", torch.device("cpu"))


def _clip(xyz: list[list[float]], dtype=torch.float32) -> torch.Tensor:
    points = torch.tensor(xyz, dtype=dtype)
    return torch.cat([points, torch.ones(len(points), 1, dtype=dtype)], dim=1)[None]


def test_nearer_triangle_wins_whatever_the_drawing_order():
    pos = _clip(
        [
            [-0.9, -0.9, 0.5],
            [0.9, -0.9, 0.5],
            [0.0, 0.9, 0.5],
            [-0.9, 0.9, -0.2],
            [0.9, 0.9, -0.2],
            [0.0, -0.9, -0.2],
        ]
    )
    for tri in ([[0, 1, 2], [3, 4, 5]], [[3, 4, 5], [0, 1, 2]]):
        tri = torch.tensor(tri, dtype=torch.int32)
        rast = TORCH.rasterize(pos, tri, (32, 32))
        ids = rast[0, ..., 3].long()
        near = 2 if tri[0, 0] == 0 else 1
        assert ids[16, 16] == near, "centre is covered by both; the nearer (z=-0.2) must win"
        assert ids[2, 16] == 3 - near and ids[29, 16] == near
        assert rast[0, 16, 16, 2] == pytest.approx(-0.2, abs=1e-6)
        assert ids[0, 0] == 0 and ids[31, 31] == 0


def test_interpolated_attribute_reproduces_pixel_centres():
    pos = _clip([[-1.0, -1.0, 0.0], [3.0, -1.0, 0.0], [-1.0, 3.0, 0.0]])
    tri = torch.tensor([[0, 1, 2]], dtype=torch.int32)
    rast = TORCH.rasterize(pos, tri, (8, 16))
    assert (rast[..., 3] == 1).all()
    ndc = TORCH.interpolate(pos[0, :, :2].contiguous(), rast, tri)[0]
    x = (torch.arange(16) + 0.5) / 16 * 2 - 1
    y = (torch.arange(8) + 0.5) / 8 * 2 - 1
    torch.testing.assert_close(ndc[..., 0], x.expand(8, 16))
    torch.testing.assert_close(ndc[..., 1], y[:, None].expand(8, 16))


def test_perspective_correct_interpolation():
    """A quad slanted in depth: the attribute equal to world depth must come out exact."""
    world = torch.tensor([[-1, -1, -2], [1, -1, -2], [1, 1, -6], [-1, 1, -6]], dtype=torch.float64)
    clip = torch.stack([world[:, 0], world[:, 1], world[:, 2] * 0.5, -world[:, 2]], dim=1)
    tri = torch.tensor([[0, 1, 2], [0, 2, 3]], dtype=torch.int32)
    rast = TORCH.rasterize(clip[None], tri, (32, 32))
    depth = TORCH.interpolate(-world[:, 2:3], rast, tri)[0, ..., 0]
    covered = rast[0, ..., 3] > 0
    ndc_y = (torch.arange(32, dtype=torch.float64) + 0.5) / 32 * 2 - 1
    # on this plane z_eye = 4 + 2 y and y_ndc = y / z_eye  ->  z_eye = 4 / (1 - 2 y_ndc)
    expected = (4.0 / (1.0 - 2.0 * ndc_y))[:, None].expand(32, 32)
    torch.testing.assert_close(depth[covered], expected[covered])


def _scene(dtype=torch.float64):
    pos = _clip([[-0.8, -0.7, 0.1], [0.7, -0.8, 0.2], [0.75, 0.8, 0.3], [-0.7, 0.6, 0.0]], dtype)
    tri = torch.tensor([[0, 1, 2], [0, 2, 3]], dtype=torch.int32)
    uv = torch.tensor([[0.1, 0.1], [0.9, 0.15], [0.85, 0.9], [0.2, 0.8]], dtype=dtype)
    tex = torch.rand(1, 6, 6, 3, dtype=dtype, generator=torch.Generator().manual_seed(1))
    return pos, tri, uv, tex


def test_texture_gradient_matches_finite_differences():
    pos, tri, uv, tex = _scene()
    rast = TORCH.rasterize(pos, tri, (12, 12))
    pixel_uv = TORCH.interpolate(uv, rast, tri)
    tex.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: TORCH.texture(t, pixel_uv), (tex,))


def test_vertex_position_gradient_matches_finite_differences():
    pos, tri, uv, tex = _scene()
    pos.requires_grad_(True)

    def render(p: torch.Tensor) -> torch.Tensor:
        rast = TORCH.rasterize(p, tri, (12, 12))
        return TORCH.texture(tex, TORCH.interpolate(uv, rast, tri))

    assert torch.autograd.gradcheck(render, (pos,), eps=1e-7, atol=1e-5)
    render(pos).sum().backward()
    assert pos.grad.abs().sum() > 0


def test_mipmapped_lookup_averages_a_minified_checkerboard():
    checker = (torch.arange(64)[:, None] + torch.arange(64)[None]) % 2
    tex = checker.float()[None, ..., None].expand(1, 64, 64, 3).contiguous()
    uv = torch.stack(
        torch.meshgrid(torch.linspace(0, 1, 8), torch.linspace(0, 1, 8), indexing="xy"), -1
    )[None]
    plain = TORCH.texture(tex, uv)
    mipped = TORCH.texture(tex, uv, mip=True)
    assert (mipped - 0.5).abs().max() < 0.05
    assert (plain - 0.5).abs().max() > 0.3


class _ShiftedRasterizer(TorchRasterizer):
    """The PyTorch backend with the image moved by two pixels: a backend that disagrees."""

    def rasterize(self, pos, tri, resolution):
        shifted = pos.clone()
        shifted[..., 0] += 4.0 / resolution[1] * shifted[..., 3]
        return super().rasterize(shifted, tri, resolution)


def test_parity_finds_agreement_and_disagreement():
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=3)
    cpu = torch.device("cpu")
    same = compare(TORCH, make_rasterizer("torch", cpu), sphere, cpu, 64)
    assert same.same_triangle == 1.0 and same.max_attribute_error == 0.0
    shifted = compare(TORCH, _ShiftedRasterizer(), sphere, cpu, 64)
    assert shifted.same_triangle < 0.95


@pytest.mark.cuda
@pytest.mark.skipif(not nvdiffrast_available(), reason="needs a CUDA GPU with nvdiffrast")
def test_torch_backend_matches_nvdiffrast_on_the_sample_head():
    import trimesh

    from backend.captures.synth import SAMPLE_HEAD

    mesh = trimesh.load(SAMPLE_HEAD, force="mesh")
    cuda = torch.device("cuda")
    parity = compare(TORCH, make_rasterizer("nvdiffrast", cuda), mesh, cuda, 512)
    assert parity.same_triangle > 0.995
    assert parity.max_attribute_error < 1e-3
