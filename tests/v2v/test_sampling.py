import pytest
import torch
from torch.testing import assert_close

from v2v import sampling as S


def test_shifted_table_endpoints_and_monotone():
    sig = S.shifted_sigmas(8.0)
    assert sig.shape == (1000,)
    assert sig[0].item() == pytest.approx(1.0)
    assert bool((sig[1:] < sig[:-1]).all())
    # shift 1 is the plain linear grid
    assert_close(S.shifted_sigmas(1.0), torch.linspace(1, 0, 1001, dtype=torch.float64)[:-1])


def test_warped_step_lists_match_causvid_and_self_forcing():
    assert S.warp_timesteps([1000, 750, 500, 250], 8.0) == pytest.approx([1000, 960.0, 888.9, 727.3], abs=0.05)
    assert S.warp_timesteps([1000, 750, 500, 250], 5.0) == pytest.approx([1000, 937.5, 833.3, 625.0], abs=0.05)
    assert S.causvid().timesteps == (1000.0, 757.0, 522.0) and S.causvid().shift == 8.0
    assert S.self_forcing().timesteps == pytest.approx((1000, 937.5, 833.3, 625.0), abs=0.05)
    with pytest.raises(ValueError):
        S.warp_timesteps([0], 8.0)


def test_add_noise_and_x0_from_flow_invert_each_other_per_frame_sigma():
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(2, 4, 3, 5, 5, generator=g)
    eps = torch.randn(2, 4, 3, 5, 5, generator=g)
    sigma = torch.tensor([[0.1, 0.5, 0.9], [1.0, 0.0, 0.3]])  # [B, F]
    x_t = S.add_noise(x0, eps, sigma)
    assert_close(x_t[1, :, 0], eps[1, :, 0])
    assert_close(x_t[1, :, 1], x0[1, :, 1])
    assert_close(S.x0_from_flow(x_t, S.flow_target(x0, eps), sigma), x0)


def test_strength_rules():
    assert S.strength_to_timestep(0.8) == pytest.approx(700.0)
    assert S.strength_to_timestep(0.8, offset=0) == pytest.approx(800.0)
    assert S.v2v_timesteps([700, 500, 400, 200], 0.8) == [700.0, 500.0, 400.0, 200.0]
    assert S.v2v_timesteps([1000, 750, 500, 250], 0.8, steps=2) == [700.0, 500.0]
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError):
            S.strength_to_timestep(bad)
    with pytest.raises(ValueError):
        S.v2v_timesteps([1000, 500], 0.8, steps=0)


def test_few_step_and_euler_recover_x0_with_an_exact_flow_model():
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(1, 4, 2, 4, 4, generator=g)
    eps = torch.randn(1, 4, 2, 4, 4, generator=g)

    def oracle(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        # the exact flow towards x0 from wherever x_t is: v = (x_t − x0)/σ
        return (x_t - x0) / (t[:, None, :, None, None] / 1000)

    out = S.sample_chunk(oracle, S.add_noise(x0, eps, 1.0), [1000, 757, 522], lambda like: torch.randn_like(like))
    assert_close(out, x0, atol=1e-5, rtol=1e-5)
    final, states = S.euler_sample(oracle, S.add_noise(x0, eps, 1.0), 20, 8.0, keep=[757.0, 522.0])
    assert_close(final, x0, atol=1e-5, rtol=1e-5)
    assert set(states) == {757.0, 522.0}
    assert_close(states[522.0], S.add_noise(x0, eps, 0.522), atol=1e-5, rtol=1e-5)


def test_train_timesteps_are_shifted_and_clamped():
    t = S.sample_train_timesteps([4096], 8.0, torch.Generator().manual_seed(0), low=20, high=980)
    assert t.min() >= 20 and t.max() <= 980
    assert t.median() > 700  # shift 8 puts most mass at high noise


def test_truncated_training_timesteps_stay_inside_with_nothing_piled_at_the_ends():
    from v2v.sampling import sample_train_timesteps

    clamped = sample_train_timesteps([20000], 5.0, generator=torch.Generator().manual_seed(0), low=20.0, high=600.0)
    assert (clamped == 600.0).float().mean() > 0.5  # shift 5: most of the law lies above 600 and piles at the cap
    cut = sample_train_timesteps(
        [20000], 5.0, generator=torch.Generator().manual_seed(0), low=20.0, high=600.0, truncate=True
    )
    assert float(cut.min()) >= 20.0 and float(cut.max()) <= 600.0
    assert (cut > 599.0).float().mean() < 0.01 and (cut < 21.0).float().mean() < 0.01
