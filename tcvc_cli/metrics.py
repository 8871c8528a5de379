"""Frame metrics (PSNR, SSIM), FID, and temporal-consistency metrics (warping error, tOF, CDC).

Definitions and sources are in docs/metrics.md. Every function takes uint8 RGB frames
(H, W, 3) in [0, 255]; none of them reads files or prints.
"""

from __future__ import annotations

import logging
import math
import socket
from pathlib import Path

import numpy as np
import torch

from .errors import InputError
from .motion import occlusion_mask, warp

log = logging.getLogger("tcvc")

FID_FILE = "pt_inception-2015-12-05-6726825d.pth"
FID_DIMS = 2048


# --------------------------------------------------------------------------- per frame


def mse(prediction: np.ndarray, truth: np.ndarray) -> float:
    diff = prediction.astype(np.float64) - truth.astype(np.float64)
    return float(np.mean(diff * diff))


def psnr_from_mse(value: float) -> float:
    """PSNR on [0, 255]; identical frames give inf."""
    return math.inf if value == 0 else 10 * math.log10(255.0**2 / value)


def ssim(prediction: np.ndarray, truth: np.ndarray) -> float:
    """SSIM on RGB in [0, 255] with Wang et al.'s settings: Gaussian window, sigma 1.5, no sample covariance."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity(truth, prediction, channel_axis=2, data_range=255, gaussian_weights=True,
                                       sigma=1.5, use_sample_covariance=False))


# --------------------------------------------------------------------------- optical flow and temporal metrics


def warping_error(out_t: np.ndarray, out_next: np.ndarray, forward: np.ndarray, backward: np.ndarray) -> float:
    """Lai et al. (ECCV 2018): masked mean of ||O_t - warp(O_t+1)||^2 over visible pixels, colours in [0, 1]."""
    visible = ~occlusion_mask(forward, backward)
    if not visible.any():
        return 0.0
    warped = warp(out_next.astype(np.float32) / 255.0, forward)
    diff = ((out_t.astype(np.float32) / 255.0 - warped) ** 2).sum(-1)
    return float(diff[visible].mean())


def tof(flow_out: np.ndarray, flow_truth: np.ndarray) -> float:
    """TecoGAN's tOF: mean L2 distance between output flow and ground-truth flow."""
    return float(np.sqrt(((flow_out - flow_truth) ** 2).sum(-1)).mean())


def colour_histograms(frame: np.ndarray, bins: int = 256) -> np.ndarray:
    """Normalised per-channel histograms, (3, bins)."""
    hist = np.stack([np.bincount(frame[:, :, c].ravel(), minlength=256).reshape(bins, -1).sum(1) for c in range(3)]).astype(np.float64)
    return hist / hist.sum(1, keepdims=True)


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence (natural log) between two distributions."""
    m = 0.5 * (p + q)

    def kl(a: np.ndarray, b: np.ndarray) -> float:
        keep = a > 0
        return float((a[keep] * np.log(a[keep] / b[keep])).sum())

    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


CDC_GAPS = (1, 2, 4)


def cdc(histograms: list[np.ndarray], shot_ids: list[int]) -> float:
    """Colour distribution consistency: mean JS divergence of per-channel histograms between
    frames 1, 2 and 4 apart (within a shot), averaged over channels, then over the gaps."""
    per_gap = []
    for gap in CDC_GAPS:
        values = [np.mean([js_divergence(histograms[t][c], histograms[t + gap][c]) for c in range(3)])
                  for t in range(len(histograms) - gap) if shot_ids[t] == shot_ids[t + gap]]
        if values:
            per_gap.append(float(np.mean(values)))
    return float(np.mean(per_gap)) if per_gap else float("nan")


# --------------------------------------------------------------------------- FID


class FidUnavailable(Exception):
    """The Inception weights for FID are not available."""


def cached_fid_weights() -> Path:
    """Where pytorch-fid's download of the standard weights lives (torch hub's cache)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / FID_FILE


def fid_network(weights: str = "default", device: torch.device = torch.device("cpu"), *,
                download: bool = False) -> torch.nn.Module:
    """pytorch-fid's InceptionV3 (pool3, 2048-d) with the standard FID weights.

    `default`: the weights in torch hub's cache (pytorch-fid's download of
    pt_inception-2015-12-05), fetched only when `download` is set - evaluating never touches
    the network unless asked to; a path: that file; `random`: a randomly initialised network
    of the same architecture, for tests only (its values are not comparable to published FIDs).
    """
    from pytorch_fid import inception

    original_loader, original_builder = inception.load_state_dict_from_url, inception.fid_inception_v3
    if weights == "default" and cached_fid_weights().is_file():
        weights = str(cached_fid_weights())
    elif weights == "default" and not download:
        raise FidUnavailable(f"the FID Inception weights are not in the cache ({cached_fid_weights()})")
    if weights == "random":
        inception.fid_inception_v3 = _unweighted_fid_inception
    elif weights != "default":
        path = Path(weights)
        if not path.is_file():
            raise InputError(f"{path}: no such Inception weights file", hint=f"pass the {FID_FILE} file, or random")
        inception.load_state_dict_from_url = lambda url, progress=True: torch.load(str(path), map_location="cpu", weights_only=True)
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(20)
    try:
        torch.manual_seed(0)
        model = inception.InceptionV3([inception.InceptionV3.BLOCK_INDEX_BY_DIM[FID_DIMS]])
    except Exception as exc:  # noqa: BLE001 - download, cache or format failure
        raise FidUnavailable(f"the FID Inception weights are not available ({str(exc).splitlines()[0][:100]})") from None
    finally:
        inception.load_state_dict_from_url, inception.fid_inception_v3 = original_loader, original_builder
        socket.setdefaulttimeout(previous_timeout)
    return model.to(device).eval()


def _unweighted_fid_inception() -> torch.nn.Module:
    """pytorch-fid's FID variant of Inception-v3, built the same way but left at its initialisation."""
    from pytorch_fid import inception

    model = inception._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    model.Mixed_5b = inception.FIDInceptionA(192, pool_features=32)
    model.Mixed_5c = inception.FIDInceptionA(256, pool_features=64)
    model.Mixed_5d = inception.FIDInceptionA(288, pool_features=64)
    model.Mixed_6b = inception.FIDInceptionC(768, channels_7x7=128)
    model.Mixed_6c = inception.FIDInceptionC(768, channels_7x7=160)
    model.Mixed_6d = inception.FIDInceptionC(768, channels_7x7=160)
    model.Mixed_6e = inception.FIDInceptionC(768, channels_7x7=192)
    model.Mixed_7b = inception.FIDInceptionE_1(1280)
    model.Mixed_7c = inception.FIDInceptionE_2(2048)
    # He initialisation keeps activations at unit scale through the 90-odd layers, so features
    # (and distances between them) are not vanishingly small as with torchvision's init.
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    return model


class FidFeatures:
    """Accumulates Inception pool features of frames, a batch at a time."""

    def __init__(self, network: torch.nn.Module, device: torch.device, batch: int = 16):
        self.network, self.device, self.batch = network, device, batch
        self.pending: list[np.ndarray] = []
        self.features: list[np.ndarray] = []

    def add(self, frame: np.ndarray) -> None:
        self.pending.append(frame)
        if len(self.pending) >= self.batch:
            self.flush()

    @torch.no_grad()
    def flush(self) -> None:
        if not self.pending:
            return
        images = torch.from_numpy(np.stack(self.pending)).permute(0, 3, 1, 2).float().div(255).to(self.device)
        self.features.append(self.network(images)[0].squeeze(-1).squeeze(-1).cpu().numpy().astype(np.float64))
        self.pending = []

    def matrix(self) -> np.ndarray:
        self.flush()
        return np.concatenate(self.features)


def frechet_distance(a: FidFeatures, b: FidFeatures) -> float:
    """Fréchet distance between the Gaussians fitted to two feature sets.

    With fewer frames than feature dimensions (the usual case for one clip), the covariances
    have low rank and the trace term has an exact cheap form: writing the covariances as
    A A^T and B B^T (A, B: centred features / sqrt(n - 1)), tr sqrt(S1 S2) is the sum of the
    singular values of A^T B, an n1 x n2 matrix. Otherwise pytorch-fid's computation is used.
    """
    import warnings

    from pytorch_fid.fid_score import calculate_frechet_distance

    x, y = a.matrix(), b.matrix()
    if len(x) < 2 or len(y) < 2:
        raise ValueError("FID needs at least two frames per set")
    mu1, mu2 = x.mean(0), y.mean(0)
    if len(x) + len(y) < x.shape[1]:
        factor_a = (x - mu1) / np.sqrt(len(x) - 1)
        factor_b = (y - mu2) / np.sqrt(len(y) - 1)
        trace_sqrt = np.linalg.svd(factor_a @ factor_b.T, compute_uv=False).sum()
        value = ((mu1 - mu2) ** 2).sum() + (factor_a**2).sum() + (factor_b**2).sum() - 2 * trace_sqrt
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = calculate_frechet_distance(mu1, np.cov(x, rowvar=False), mu2, np.cov(y, rowvar=False))
    return float(max(0.0, value))
