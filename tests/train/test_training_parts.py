"""Losses against their formulas, the progress line and the sample grid layout."""

import io

import torch

from draggan_fast.stylegan.training import losses
from draggan_fast.stylegan.training.report import ProgressBar, image_grid


def test_logistic_losses_match_their_formulas():
    real, fake = torch.tensor([[0.5], [-1.0]]), torch.tensor([[2.0], [0.0]])
    expected_g = -torch.log(torch.sigmoid(fake)).mean()
    expected_d = -torch.log(torch.sigmoid(real)).mean() - torch.log(1 - torch.sigmoid(fake)).mean()
    torch.testing.assert_close(losses.generator_loss(fake), expected_g)
    torch.testing.assert_close(losses.discriminator_loss(real, fake), expected_d)


def test_lazy_r1_is_the_scaled_squared_input_gradient():
    weight = torch.randn(1, 3, 4, 4, requires_grad=True)

    def linear_discriminator(images):  # D(x) = <w, x>, so dD/dx = w for every sample
        return (images * weight).sum(dim=[1, 2, 3])[:, None]

    reals = torch.randn(5, 3, 4, 4)
    loss, penalty = losses.lazy_r1_loss(linear_discriminator, reals, gamma=0.2, interval=16)
    squared_norm = weight.detach().square().sum()
    torch.testing.assert_close(penalty, squared_norm)
    torch.testing.assert_close(loss, squared_norm * 0.2 / 2 * 16)
    (grad,) = torch.autograd.grad(loss, weight)  # the penalty trains D: d|w|^2/dw = 2w
    torch.testing.assert_close(grad, 2 * weight.detach() * 0.2 / 2 * 16)


def test_progress_line_shows_kimg_and_rate():
    stream = io.StringIO()
    bar = ProgressBar(total_kimg=10, stream=stream, interval_s=0)
    bar.start_time -= 3600  # one hour ago
    bar.update(5.0, {"loss_G": 1.25})
    line = stream.getvalue()
    assert "5.000/10 kimg" in line and "5.0 kimg/h" in line and "loss_G 1.250" in line
    assert "[" + "#" * 12 + "." * 12 + "]" in line and line.endswith("\n")


def test_image_grid_places_images_row_by_row():
    images = torch.stack([torch.full([3, 2, 2], value) for value in (-1.0, 0.0, 1.0)])
    grid = image_grid(images, columns=2)  # [4, 4, 3]: two rows, the last cell blank
    assert grid.shape == (4, 4, 3)
    assert grid[0, 0, 0] == 0 and grid[0, 2, 0] == 128 and grid[2, 0, 0] == 255
    assert grid[2, 2, 0] == 0  # blank padding
