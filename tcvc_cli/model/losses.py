"""The paper's losses: adversarial, L1, and VGG-19 content and style.

L = lambda_adv * adversarial + lambda_content * content + lambda_style * style + lambda_l1 * L1.
Content: L1 between VGG-19 activations at relu1_1, relu2_1, relu3_1, relu4_1, relu5_1, each
divided by its number of elements (a mean). Style: L1 between the Gram matrices of the same
activations, Gram = F F^T / (C H W). The feature extractor is passed in, so tests can use a
randomly initialised VGG without touching the network.

Beyond the paper: the short-term temporal loss of Lai et al. (ECCV 2018), which compares the
output for frame t with the output for t-1 moved along the true motion.
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import TrainingError

log = logging.getLogger("tcvc")

# Indices of relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 in torchvision's vgg19().features.
VGG_LAYERS = (1, 6, 11, 20, 29)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VGGFeatures(nn.Module):
    """Frozen VGG-19 up to relu5_1, returning the five activations the losses compare.

    Inputs are RGB in [0, 1] and are normalised with ImageNet statistics, the distribution
    the weights were trained on (the authors' code skipped this; the paper does not say).
    """

    def __init__(self, features: nn.Sequential):
        super().__init__()
        self.features = features[: VGG_LAYERS[-1] + 1].eval()
        for parameter in self.features.parameters():
            parameter.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        x = (image - self.mean) / self.std
        outputs = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in VGG_LAYERS:
                outputs.append(x)
        return outputs

    def train(self, mode: bool = True) -> "VGGFeatures":
        return super().train(False)  # always frozen


def load_vgg(weights: str) -> VGGFeatures:
    """VGG-19 features: `imagenet` (torchvision's weights, cached), a file path, or `random`."""
    from torchvision.models import VGG19_Weights, vgg19

    if weights == "random":
        log.warning("using a randomly initialised VGG-19 for the content and style losses (--vgg-weights random)")
        return VGGFeatures(vgg19(weights=None).features)
    if weights == "imagenet":
        previous_timeout = socket.getdefaulttimeout()
        socket.setdefaulttimeout(30)
        try:
            return VGGFeatures(vgg19(weights=VGG19_Weights.IMAGENET1K_V1).features)
        except Exception as exc:  # noqa: BLE001 - any download or cache failure
            url = VGG19_Weights.IMAGENET1K_V1.url
            raise TrainingError(
                f"cannot load the ImageNet VGG-19 weights for the perceptual losses ({str(exc).splitlines()[0][:120]})",
                hint=f"download {url} on a connected machine and pass --vgg-weights PATH "
                     f"(or put it in {torch.hub.get_dir()}/checkpoints); --vgg-weights random is for smoke tests only",
            ) from None
        finally:
            socket.setdefaulttimeout(previous_timeout)
    path = Path(weights)
    if not path.is_file():
        raise TrainingError(f"{path}: no such VGG-19 weights file", hint="pass the vgg19-dcbb9e9d.pth file, imagenet, or random")
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise TrainingError(f"{path}: not a readable weights file ({str(exc).splitlines()[0][:120]})") from None
    model = vgg19(weights=None)
    features = {k.removeprefix("features."): v for k, v in state.items() if not k.startswith("classifier.")}
    try:
        model.features.load_state_dict(features, strict=True)
    except RuntimeError as exc:
        raise TrainingError(f"{path}: does not hold VGG-19 weights ({str(exc).splitlines()[0][:160]})") from None
    return VGGFeatures(model.features)


def gram(features: torch.Tensor) -> torch.Tensor:
    batch, channels, height, width = features.shape
    flat = features.reshape(batch, channels, height * width)
    return flat @ flat.transpose(1, 2) / (channels * height * width)


def content_loss(fake: list[torch.Tensor], real: list[torch.Tensor]) -> torch.Tensor:
    return sum(F.l1_loss(a, b) for a, b in zip(fake, real))


def style_loss(fake: list[torch.Tensor], real: list[torch.Tensor]) -> torch.Tensor:
    return sum(F.l1_loss(gram(a.float()), gram(b.float())) for a, b in zip(fake, real))


def adversarial_loss(logits: torch.Tensor, is_real: bool) -> torch.Tensor:
    """Non-saturating GAN loss on PatchGAN logits (binary cross-entropy)."""
    target = torch.ones_like(logits) if is_real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


def warp_by(images: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
    """Sample each pixel x of `images` (N, C, H, W) at x + motion(x), motion (N, 2, H, W) in pixels
    (bilinear, edges replicated)."""
    _, _, height, width = images.shape
    ys, xs = torch.meshgrid(torch.arange(height, device=images.device, dtype=torch.float32),
                            torch.arange(width, device=images.device, dtype=torch.float32), indexing="ij")
    x = (xs + motion[:, 0].float()) * (2.0 / max(width - 1, 1)) - 1.0
    y = (ys + motion[:, 1].float()) * (2.0 / max(height - 1, 1)) - 1.0
    grid = torch.stack((x, y), dim=-1)
    return F.grid_sample(images.float(), grid, mode="bilinear", padding_mode="border", align_corners=True)


def temporal_loss(output: torch.Tensor, previous_output: torch.Tensor, motion: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Short-term temporal loss (Lai et al., ECCV 2018): mean L1 between the output for frame t and
    the output for t-1 moved along the true motion, over the pixels visible in both (`valid`)."""
    moved = warp_by(previous_output.detach(), motion)
    mask = valid.float()
    difference = (output.float() - moved).abs().mean(1, keepdim=True)
    return (difference * mask).sum() / mask.sum().clamp(min=1.0)
