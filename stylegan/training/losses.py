"""StyleGAN2's losses: non-saturating logistic G and D losses and the lazy R1 penalty."""

import torch
import torch.nn.functional as F


def generator_loss(fake_logits):  # [N, 1] -> scalar
    """-log sigmoid(D(G(z))), the non-saturating generator loss."""
    return F.softplus(-fake_logits).mean()


def discriminator_loss(real_logits, fake_logits):  # [N, 1], [N, 1] -> scalar
    """-log sigmoid(D(x)) - log(1 - sigmoid(D(G(z))))."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def r1_penalty(discriminator, reals):  # reals [N, C, H, W] -> (penalty [N], logits [N, 1])
    """Squared norm of dD(x)/dx at real images, per sample (create_graph, for the D update)."""
    reals = reals.detach().requires_grad_(True)
    logits = discriminator(reals)
    (grads,) = torch.autograd.grad(logits.sum(), reals, create_graph=True, only_inputs=True)
    return grads.square().sum(dim=[1, 2, 3]), logits


def lazy_r1_loss(discriminator, reals, gamma, interval):
    """The R1 term of one lazy-regularisation step: mean(penalty) * gamma / 2 * interval.

    `logits * 0` keeps every D parameter in the graph, as the official code does.
    """
    penalty, logits = r1_penalty(discriminator, reals)
    return (penalty * (gamma / 2) * interval + logits[:, 0] * 0).mean(), penalty.mean()
