"""The coarse-colour terms of the `ode` and `dmd` stages (v2v/train/ode.py): latent and pixel space."""

import torch

from v2v.train.common import TrainConfig, build_vae, frozen
from v2v.train.ode import coarse_loss, pixel_coarse_loss, x0_loss


def checker(size: int) -> torch.Tensor:
    """±1 in a checkerboard: mean 0 over any even window, so a coarse term must not see it."""
    board = torch.ones(size, size)
    board[::2] *= -1
    board[:, ::2] *= -1
    return board


def test_coarse_colour_term_sees_the_palette_not_the_detail():
    """The coarse term is blind to detail that averages out over its window and sees a shift of colour."""
    torch.manual_seed(0)
    target = torch.randn(2, 4, 3, 16, 16)
    assert coarse_loss(target + 0.7 * checker(16), target, 8).item() < 1e-10
    assert abs(coarse_loss(target + 0.5, target, 8).item() - 0.25) < 1e-5
    assert abs(coarse_loss(target + 0.5, target, 64).item() - 0.25) < 1e-5  # wider than the crop: whole frame
    sky = target.clone()
    sky[..., :8, :] += 1.0  # the top half brighter
    assert coarse_loss(sky, target, 8).item() > coarse_loss(sky, target, 16).item() > 0.2


def test_paired_term_with_the_coarse_colour_part_counts_only_live_frames():
    """x0_loss's coarse part: 0 for detail that averages out, coarse × the shift for a colour shift, and a
    frame given clean (t = 0) adds nothing."""

    class Shift(torch.nn.Module):  # flow = −offset/σ: the x0 it implies is x_t + offset
        def __init__(self, offset):
            super().__init__()
            self.offset, self.dummy = offset, torch.nn.Parameter(torch.zeros(()))

        def forward(self, x_t, t, ctx):
            return -self.offset / (t / 1000.0).clamp_min(1e-3)[:, None, :, None, None]

    class Text(torch.nn.Module):
        def encode(self, prompts):
            return torch.zeros(len(prompts), 2, 4)

    x0 = torch.randn(1, 4, 2, 8, 8)
    t = torch.tensor([[500.0, 0.0]])  # frame 2 given clean
    x_t = x0.clone()
    plain = x0_loss(Shift(0.5), Text(), x_t, t, x0, ["p"]).item()
    both = x0_loss(Shift(0.5), Text(), x_t, t, x0, ["p"], coarse=4.0, pool=8).item()
    assert abs(plain - 0.25) < 1e-4 and abs(both - 0.25 * 5) < 1e-4
    detail = x0_loss(Shift(0.5 * checker(8)), Text(), x_t, t, x0, ["p"], coarse=4.0, pool=8).item()
    assert abs(detail - 0.25) < 1e-4  # the detail costs only the plain MSE


def test_pixel_coarse_term_decodes_with_gradients_to_x0_only():
    torch.manual_seed(0)
    vae = frozen(build_vae(TrainConfig()))
    target = torch.randn(1, vae.z_dim, 2, 4, 4)
    assert pixel_coarse_loss(vae, target, target, 8).item() == 0.0
    x0 = (target + 1.0).requires_grad_(True)
    loss = pixel_coarse_loss(vae, x0, target, 8)
    loss.backward()
    assert loss.item() > 0 and x0.grad is not None and x0.grad.abs().sum() > 0
    assert all(p.grad is None for p in vae.parameters())  # the decoder stays as it is
