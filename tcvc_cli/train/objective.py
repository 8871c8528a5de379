"""What one training step optimises: the condition the generator sees (true, its own unrolled
output, degraded, carried along the motion), and the losses of the generator and the
discriminator, weighted as the config says.

Owns: Condition, make_condition, generator_losses, discriminator_loss, gate_loss, degrade,
weights_init. Imports: train.config, model.losses, motion.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..model.losses import adversarial_loss, content_loss, style_loss, temporal_loss
from ..motion import motion_condition
from .config import TrainConfig


def weights_init(module: nn.Module) -> None:
    """pix2pix's initialisation: N(0, 0.02) convolutions, N(1, 0.02) batch-norm scales."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        weight = getattr(module, "parametrizations", None)
        target = module.parametrizations.weight.original if weight is not None else module.weight
        nn.init.normal_(target, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
            if hasattr(module, "gate_bias"):
                with torch.no_grad():
                    module.bias[3] = module.gate_bias
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


@dataclass(frozen=True)
class OwnOutput:
    """G's own output for the frame before t, before any degradation, and the samples that used it."""

    image: torch.Tensor
    used: torch.Tensor


@dataclass(frozen=True)
class Condition:
    image: torch.Tensor  # what G is conditioned on
    own: OwnOutput | None  # set when some samples are conditioned on G's own output


def gate_loss(logit: torch.Tensor, previous: torch.Tensor, painted: torch.Tensor, target: torch.Tensor,
              tolerance: float) -> torch.Tensor:
    """Teach the copy gate directly, per pixel: open where copying the condition is at least as
    close to the target as the generator's painting, or within `tolerance` of the target;
    shut elsewhere (moved content, a blank condition). The painting has its own L1 loss, so
    the comparison is against a colorizer that is worth shutting the gate for."""
    copy_error = (previous[:, :3].float() - target.float()).abs().mean(1, keepdim=True)
    paint_error = (painted.detach().float() - target.float()).abs().mean(1, keepdim=True)
    copy_is_right = ((copy_error <= paint_error) | (copy_error <= tolerance)).float()
    return F.binary_cross_entropy_with_logits(logit.float(), copy_is_right)


def degrade(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Imperfect previous frames: blur, noise, per-channel colour gain and offset, and a small
    random shift and rotation - the kinds of error the generator's own outputs carry."""
    batch, _, height, width = images.shape

    def uniform(low: float, high: float, *shape: int) -> torch.Tensor:
        return (low + (high - low) * torch.rand(*shape, generator=generator)).to(images.device)

    sigma = float(uniform(0.1, 1.5, 1))
    radius = max(1, int(round(2 * sigma)))
    taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=torch.float32) / sigma) ** 2)
    taps = (taps / taps.sum()).to(images.device, images.dtype)
    blurred = F.conv2d(F.pad(images, (radius, radius, 0, 0), mode="replicate"), taps.view(1, 1, 1, -1).expand(3, 1, 1, -1), groups=3)
    blurred = F.conv2d(F.pad(blurred, (0, 0, radius, radius), mode="replicate"), taps.view(1, 1, -1, 1).expand(3, 1, -1, 1), groups=3)
    gain, offset = uniform(0.92, 1.08, batch, 3, 1, 1), uniform(-0.04, 0.04, batch, 3, 1, 1)
    noisy = blurred * gain + offset + uniform(0.0, 0.03, batch, 1, 1, 1) * torch.randn(images.shape, generator=generator).to(images.device)
    angle = uniform(-0.02, 0.02, batch)
    shift = uniform(-2.0, 2.0, batch, 2) * torch.tensor([2.0 / width, 2.0 / height], device=images.device)
    theta = torch.zeros(batch, 2, 3, device=images.device)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = angle.cos(), -angle.sin(), angle.sin(), angle.cos()
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    warped = F.grid_sample(noisy, grid.to(images.dtype), padding_mode="border", align_corners=False)
    return warped.clamp(0, 1)


def generated_probability(config: TrainConfig, step: int, total_steps: int) -> float:
    """How often the condition is G's own output rather than the true frame (--prev-source)."""
    if config.prev_source == "gt":
        return 0.0
    if config.prev_source == "generated":
        return 1.0
    return min(1.0, step / max(1.0, config.mixed_ramp * total_steps))


def make_condition(config: TrainConfig, generator: nn.Module, batch: dict[str, torch.Tensor], step: int,
                   total_steps: int) -> Condition:
    """The previous-frame condition for this batch: true, generated by G itself, degraded."""
    previous = batch["previous"]
    own = None
    if not config.model.use_previous:
        return Condition(previous, own)
    generator_rng = torch.Generator().manual_seed(config.seed * 7919 + step)
    not_blank = ~batch["blank"].to(previous.device)
    probability = generated_probability(config, step, total_steps)
    use = None
    if probability > 0 and "history_lines" in batch:
        use = not_blank & (torch.rand(len(previous), generator=generator_rng) < probability).to(previous.device)
        if use.any():
            made = unroll(config, generator, batch)
            previous = torch.where(use.view(-1, 1, 1, 1), made, previous)
            own = OwnOutput(made, use)
    if config.degrade > 0:
        chosen = not_blank & (torch.rand(len(previous), generator=generator_rng) < config.degrade).to(previous.device)
        if chosen.any():
            previous = torch.where(chosen.view(-1, 1, 1, 1), degrade(previous, generator_rng), previous)
    if config.model.condition == "motion":
        # G's own output is for frame t-1; a true condition comes from 1 to --prev-gap frames back.
        flow, valid = batch["flow"], batch["flow_valid"]
        if own is not None:
            flow = torch.where(use.view(-1, 1, 1, 1), batch["own_flow"], flow)
            valid = torch.where(use.view(-1, 1, 1, 1), batch["own_flow_valid"], valid)
        previous = motion_condition(previous, flow, valid)
    return Condition(previous, own)


def unroll(config: TrainConfig, generator: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Run G over the frames before t, each output conditioning the next, as colorize does."""
    condition = batch["history_start"]
    grad = torch.enable_grad() if config.unroll_grad else torch.no_grad()
    with grad:
        for j in range(batch["history_lines"].shape[1]):
            seen = condition
            if config.model.condition == "motion":
                seen = motion_condition(condition, batch["history_flows"][:, j], batch["history_flow_valid"][:, j])
            output = generator(batch["history_lines"][:, j], seen)
            condition = torch.where(batch["history_valid"][:, j].view(-1, 1, 1, 1), output.to(condition.dtype), condition)
    return condition


@dataclass(frozen=True)
class Outputs:
    """What G made of a batch: the frame, and with the copy gate its logit and its own painting."""

    fake: torch.Tensor
    gate_logit: torch.Tensor | None = None
    painted: torch.Tensor | None = None


def discriminator_loss(discriminator: nn.Module, line: torch.Tensor, previous: torch.Tensor, target: torch.Tensor,
                       fake: torch.Tensor) -> torch.Tensor:
    """The patch discriminator's loss: real pairs as real, G's (detached) as fake."""
    real_logits = discriminator(line, previous, target)
    fake_logits = discriminator(line, previous, fake.detach())
    return 0.5 * (adversarial_loss(real_logits, True) + adversarial_loss(fake_logits, False))


def generator_losses(config: TrainConfig, discriminator: nn.Module, vgg: nn.Module | None, batch: dict[str, torch.Tensor],
                     condition: Condition, line: torch.Tensor, previous: torch.Tensor, target: torch.Tensor,
                     made: Outputs) -> dict[str, torch.Tensor]:
    """Every term of G's loss, and their weighted sum as `loss_g`."""
    fake = made.fake
    zero = torch.zeros((), device=fake.device)
    terms = {"adv": adversarial_loss(discriminator(line, previous, fake), True), "l1": F.l1_loss(fake, target),
             "content": zero, "style": zero, "gate": zero, "paint": zero, "temporal": zero}
    if vgg is not None:
        fake_features, real_features = vgg(fake), vgg(target)
        if config.content_weight > 0:
            terms["content"] = content_loss(fake_features, real_features)
        if config.lambda_style > 0:
            terms["style"] = style_loss(fake_features, real_features)
    if made.gate_logit is not None:
        # The painting must stand on its own where the gate shuts, so it learns
        # everywhere, not only where the gate already lets it through.
        terms["paint"] = F.l1_loss(made.painted.float(), target.float())
        if config.lambda_gate > 0:
            terms["gate"] = gate_loss(made.gate_logit, previous, made.painted, target, config.gate_tolerance)
    if config.lambda_temporal > 0 and condition.own is not None and "motion" in batch:
        valid = batch["motion_valid"] & condition.own.used.view(-1, 1, 1, 1)
        terms["temporal"] = temporal_loss(fake, condition.own.image, batch["motion"], valid)
    terms["loss_g"] = (config.lambda_adv * terms["adv"] + config.lambda_l1 * (terms["l1"] + terms["paint"])
                       + config.content_weight * terms["content"] + config.lambda_style * terms["style"]
                       + config.lambda_gate * terms["gate"] + config.lambda_temporal * terms["temporal"])
    return terms
