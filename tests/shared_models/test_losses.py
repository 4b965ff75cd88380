import math

import pytest
import torch

from shared_models.losses import discriminator_loss, generator_loss


def test_losses_at_an_undecided_discriminator():
    zero = torch.zeros(5)
    assert discriminator_loss(zero, zero).item() == pytest.approx(2 * math.log(2), rel=1e-6)
    assert generator_loss(zero).item() == pytest.approx(1 + math.log(2), rel=1e-6)


def test_losses_match_the_tutorials_formulas_on_known_inputs():
    real_logits = torch.tensor([2.0, -1.0, 0.5])
    fake_logits = torch.tensor([-3.0, 0.2, 1.5])
    d_real, d_fake = torch.sigmoid(real_logits), torch.sigmoid(fake_logits)
    expected_d = -(torch.log(d_real) + torch.log(1 - d_fake)).mean()
    expected_g = (1 - torch.log(d_fake)).mean()
    assert torch.allclose(discriminator_loss(real_logits, fake_logits), expected_d, atol=1e-6)
    assert torch.allclose(generator_loss(fake_logits), expected_g, atol=1e-6)


def test_losses_stay_finite_where_the_naive_formula_gives_log_zero():
    real_logits = torch.tensor([-200.0, 200.0], requires_grad=True)
    fake_logits = torch.tensor([200.0, -200.0], requires_grad=True)
    naive = -(torch.log(torch.sigmoid(real_logits)) + torch.log(1 - torch.sigmoid(fake_logits)))
    assert torch.isinf(naive).any()  # what the stable form avoids
    d_loss = discriminator_loss(real_logits, fake_logits)
    g_loss = generator_loss(fake_logits)
    assert torch.isfinite(d_loss) and torch.isfinite(g_loss)
    assert d_loss.item() == pytest.approx(200.0, rel=1e-6)  # (200 + 0) / 2 per sample on average
    (d_loss + g_loss).backward()
    assert torch.isfinite(real_logits.grad).all() and torch.isfinite(fake_logits.grad).all()

