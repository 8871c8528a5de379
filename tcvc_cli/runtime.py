"""Device selection and inference-time settings shared by colorize, train and evaluate."""

from __future__ import annotations

import signal
import threading

import torch

from .errors import Terminated, UsageError

DEVICES = ("auto", "cpu", "cuda", "mps")


def select_device(name: str = "auto") -> torch.device:
    """`auto` picks CUDA, then Apple MPS, then the CPU; an explicit choice must be available."""
    if name not in DEVICES and not name.startswith("cuda:"):
        raise UsageError(f"unknown device {name!r}", hint=f"one of {', '.join(DEVICES)} (or cuda:N)")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for but no CUDA GPU is available", hint="use --device cpu or auto")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UsageError("--device mps was asked for but Apple MPS is not available", hint="use --device cpu or auto")
    return torch.device(name)


def set_threads(threads: int | None) -> None:
    if threads is not None:
        if threads < 1:
            raise UsageError(f"--threads must be at least 1, got {threads}")
        torch.set_num_threads(threads)


def prepare_for_inference(model: torch.nn.Module, device: torch.device, half: bool) -> torch.nn.Module:
    """Move to the device; on CUDA use channels-last and, if asked, half precision."""
    model = model.to(device).eval()
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
        if half:
            model = model.half()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def raise_on_sigterm() -> None:
    """Turn SIGTERM into a Terminated exception in the main thread (what Ctrl-C does with
    KeyboardInterrupt), so a preempted job stops the way an interrupted one does."""
    if threading.current_thread() is not threading.main_thread():
        return

    def handle(signum, frame) -> None:
        raise Terminated()

    signal.signal(signal.SIGTERM, handle)
