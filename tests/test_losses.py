"""GAN objectives against their definitions."""
import pytest
import torch
import torch.nn.functional as F

from engine.losses import GANLoss, gradient_penalty


def test_vanilla_and_lsgan():
    logits = torch.tensor([[-2.0, 0.5], [1.0, 3.0]])
    assert GANLoss("vanilla")(logits, True) == pytest.approx(F.softplus(-logits).mean().item())
    assert GANLoss("vanilla")(logits, False) == pytest.approx(F.softplus(logits).mean().item())
    assert GANLoss("lsgan")(logits, True) == pytest.approx(((logits - 1) ** 2).mean().item())
    assert GANLoss("lsgan")(logits, False) == pytest.approx((logits ** 2).mean().item())


def test_wgan_and_hinge():
    scores = torch.tensor([-2.0, -0.5, 0.5, 2.0])
    assert GANLoss("wgangp")(scores, True) == pytest.approx(0.0)
    assert GANLoss("wgangp")(scores + 1, False) == pytest.approx(1.0)
    hinge = GANLoss("hinge")
    assert hinge(scores, True) == pytest.approx(torch.relu(1 - scores).mean().item())
    assert hinge(scores, False) == pytest.approx(torch.relu(1 + scores).mean().item())
    assert hinge(scores + 1, True, for_discriminator=False) == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="gan_mode"):
        GANLoss("wasserstein")


def test_gradient_penalty_of_a_linear_critic():
    torch.manual_seed(0)
    weight = torch.randn(1, 3, 4, 4)
    critic = lambda x: (x * weight).flatten(1).sum(1)  # noqa: E731  gradient norm is |weight| everywhere
    real, fake = torch.randn(5, 3, 4, 4), torch.randn(5, 3, 4, 4)
    expected = 10.0 * (weight.norm() - 1) ** 2
    assert gradient_penalty(critic, real, fake, weight=10.0).item() == pytest.approx(expected.item(), rel=1e-4)
