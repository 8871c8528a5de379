"""The networks: tcvc's residual generator, the pix2pix U-Net baseline, the PatchGAN critic.

Conventions: line art (or greyscale) is one channel in [0, 1] with black lines (0) on white
(1); the previous colour frame is RGB in [0, 1], and a blank previous frame is all zeros.
Generators return RGB in [0, 1].
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from .config import ModelConfig


def _norm(channels: int) -> nn.Module:
    # Instance norm without affine parameters or running statistics, as in the paper's code.
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


# The copy gate starts leaning towards copying (sigmoid(2) = 0.88): a continuing frame is
# mostly its previous frame, so training only has to learn where to paint.
GATE_BIAS = 2.0


class ResidualBlock(nn.Module):
    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(dilation), nn.Conv2d(channels, channels, 3, dilation=dilation), _norm(channels), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), _norm(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """G(line art, previous colour frame): 7x7 conv, 2 strided convs, residual blocks, 2 transposed convs, 7x7 conv.

    Not a U-Net: the paper notes that downsampling sparse line art down to 2x2 loses it.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        in_channels = 1 + config.condition_channels
        ngf = config.ngf
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7), _norm(ngf), nn.ReLU(True)]
        channels = ngf
        for _ in range(config.n_downsampling):
            layers += [nn.Conv2d(channels, channels * 2, 4, stride=2, padding=1), _norm(channels * 2), nn.ReLU(True)]
            channels *= 2
        layers += [ResidualBlock(channels, config.dilation) for _ in range(config.n_blocks)]
        for _ in range(config.n_downsampling):
            layers += [nn.ConvTranspose2d(channels, channels // 2, 4, stride=2, padding=1), _norm(channels // 2), nn.ReLU(True)]
            channels //= 2
        self.copy_gate = config.copy_gate and config.use_previous
        last = nn.Conv2d(channels, 4 if self.copy_gate else 3, 7)
        layers += [nn.ReflectionPad2d(3), last]
        self.model = nn.Sequential(*layers)
        if self.copy_gate:
            last.gate_bias = GATE_BIAS  # read by the trainer's initialisation
        self.use_previous = config.use_previous

    def forward(self, line: torch.Tensor, previous: torch.Tensor | None = None, *,
                with_gate: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The colour frame; with `with_gate` (copy-gate models) also the gate's logits and the painted colours."""
        x = torch.cat([line, previous], 1) if self.use_previous else line
        out = self.model(x)
        colour = (torch.tanh(out[:, :3]) + 1) / 2
        if not self.copy_gate:
            return colour
        logit = out[:, 3:4]
        gate = torch.sigmoid(logit)
        blended = gate * previous[:, :3] + (1 - gate) * colour
        return (blended, logit, colour) if with_gate else blended


class _UnetBlock(nn.Module):
    """One level of the pix2pix U-Net: down, the inner levels, up, concatenated with the skip."""

    def __init__(self, outer: int, inner: int, in_channels: int | None = None, submodule: nn.Module | None = None,
                 outermost: bool = False, innermost: bool = False):
        super().__init__()
        in_channels = in_channels or outer
        down = nn.Conv2d(in_channels, inner, 4, stride=2, padding=1, bias=False)
        if outermost:
            up = nn.ConvTranspose2d(inner * 2, outer, 4, stride=2, padding=1)
            layers = [down, submodule, nn.ReLU(True), up]
        elif innermost:
            up = nn.ConvTranspose2d(inner, outer, 4, stride=2, padding=1, bias=False)
            layers = [nn.LeakyReLU(0.2, True), down, nn.ReLU(True), up, nn.BatchNorm2d(outer)]
        else:
            up = nn.ConvTranspose2d(inner * 2, outer, 4, stride=2, padding=1, bias=False)
            layers = [nn.LeakyReLU(0.2, True), down, nn.BatchNorm2d(inner), submodule, nn.ReLU(True), up, nn.BatchNorm2d(outer)]
        self.outermost = outermost
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    """pix2pix's U-Net (unet_256 with 8 downsamplings), batch norm as in pix2pix."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        ngf = config.ngf
        in_channels = 1 + config.condition_channels
        block = _UnetBlock(ngf * 8, ngf * 8, innermost=True)
        for _ in range(config.unet_downs - 5):
            block = _UnetBlock(ngf * 8, ngf * 8, submodule=block)
        block = _UnetBlock(ngf * 4, ngf * 8, submodule=block)
        block = _UnetBlock(ngf * 2, ngf * 4, submodule=block)
        block = _UnetBlock(ngf, ngf * 2, submodule=block)
        self.model = _UnetBlock(3, ngf, in_channels=in_channels, submodule=block, outermost=True)
        self.use_previous = config.use_previous

    def forward(self, line: torch.Tensor, previous: torch.Tensor | None = None) -> torch.Tensor:
        x = torch.cat([line, previous], 1) if self.use_previous else line
        return (torch.tanh(self.model(x)) + 1) / 2


class PatchDiscriminator(nn.Module):
    """70x70 PatchGAN with spectral normalisation on every conv.

    Conditioned like the generator: its input is line art, the previous frame (when the
    generator uses one) and the real or generated frame.
    """

    def __init__(self, use_previous: bool = True, ndf: int = 64, n_layers: int = 3, condition_channels: int = 3):
        super().__init__()
        in_channels = 1 + (condition_channels if use_previous else 0) + 3
        layers: list[nn.Module] = [spectral_norm(nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1)), nn.LeakyReLU(0.2, True)]
        channels = ndf
        for index in range(1, n_layers + 1):
            out = ndf * min(2 ** index, 8)
            stride = 2 if index < n_layers else 1
            layers += [spectral_norm(nn.Conv2d(channels, out, 4, stride=stride, padding=1)), nn.LeakyReLU(0.2, True)]
            channels = out
        layers.append(spectral_norm(nn.Conv2d(channels, 1, 4, stride=1, padding=1)))
        self.model = nn.Sequential(*layers)
        self.use_previous = use_previous

    def forward(self, line: torch.Tensor, previous: torch.Tensor | None, image: torch.Tensor) -> torch.Tensor:
        parts = [line, previous, image] if self.use_previous else [line, image]
        return self.model(torch.cat(parts, 1))


def define_generator(config: ModelConfig) -> nn.Module:
    return UnetGenerator(config) if config.arch == "unet" else ResnetGenerator(config)


def generator_flops(config: ModelConfig, height: int, width: int) -> float:
    """Multiply-accumulates x 2 of one forward pass at (height, width), counted from the layers."""
    model = define_generator(config)
    total = 0.0

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            total += 2.0 * k * output.numel()
        elif isinstance(module, nn.ConvTranspose2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
            total += 2.0 * k * inputs[0].numel()

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    with torch.no_grad():
        model.eval()
        model(torch.zeros(1, 1, height, width), torch.zeros(1, max(config.condition_channels, 3), height, width))
    for handle in handles:
        handle.remove()
    return total
