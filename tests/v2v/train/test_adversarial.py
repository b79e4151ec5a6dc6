"""The adversarial term of the decoder fine-tune: its pieces, and a discriminator that learns."""

import torch
import torch.nn.functional as F

from v2v.train import adversarial


def test_sample_frames_takes_distinct_frames_of_each_clip():
    B, T = 3, 9
    video = (10 * torch.arange(B)[:, None] + torch.arange(T)[None]).float()  # [B, T]: clip b, frame t -> 10b + t
    video = video[:, None, :, None, None].expand(B, 3, T, 8, 8)  # [B, 3, T, 8, 8]
    frames = adversarial.sample_frames(video, 4, torch.Generator().manual_seed(0))
    assert frames.shape == (B * 4, 3, 8, 8)
    ids = frames[:, 0, 0, 0].view(B, 4)
    for b in range(B):
        assert ((ids[b] // 10) == b).all() and len(set(ids[b].tolist())) == 4


def test_hinge_losses_are_zero_only_beyond_the_margins():
    far = torch.tensor([2.0, 3.0])
    assert adversarial.discriminator_loss(far, -far).item() == 0.0
    assert adversarial.discriminator_loss(-far, far).item() > 4.0
    assert adversarial.generator_loss(far).item() == -2.5


def test_adaptive_weight_is_the_ratio_of_gradient_norms_at_the_layer():
    w = torch.ones(4, 4, requires_grad=True)
    recon, adv = (2 * w).sum(), (3 * w).sum()
    weight = adversarial.adaptive_weight(recon, adv, w, scale=0.6)
    assert abs(weight.item() - 0.6 * 2 / 3) < 1e-4 and not weight.requires_grad


def _edges(n: int, g: torch.Generator) -> torch.Tensor:
    """Sharp random vertical edges [n, 3, 32, 32] and the same blurred."""
    pos = torch.randint(8, 24, (n,), generator=g)
    x = torch.where(torch.arange(32)[None, :] < pos[:, None], -1.0, 1.0)  # [n, 32]
    return x[:, None, None, :].expand(n, 3, 32, 32).contiguous()


def test_the_discriminator_learns_to_tell_sharp_edges_from_smeared_ones():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    disc = adversarial.PatchDiscriminator((8, 16, 16))
    opt = torch.optim.Adam(disc.parameters(), lr=2e-3, betas=(0.5, 0.9))
    blur = lambda x: F.avg_pool2d(F.pad(x, (3, 3, 0, 0), mode="replicate"), (1, 7), stride=1)  # noqa: E731
    first = None
    for _ in range(60):
        sharp = _edges(16, g)
        loss = adversarial.discriminator_loss(disc(sharp), disc(blur(sharp)))
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    test = _edges(16, g)
    with torch.no_grad():
        assert disc(test).mean() > disc(blur(test)).mean() + 0.5
    assert loss.item() < 0.7 * first
