"""One exception family for every expected failure.

Each error carries a one-line message, an optional hint and the process exit code the CLI
uses for it, so shell scripts can tell "bad input" from "ffmpeg broke" from "bad model".
The table of codes lives here and nowhere else (docs/cli.md repeats it for users).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_INPUT = 3
EXIT_OUTPUT = 4
EXIT_MODEL = 5
EXIT_FFMPEG = 6
EXIT_HUB = 7
EXIT_TRAINING = 8
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, as shells report a process that SIGTERM ended


class TcvcError(Exception):
    """Base of every failure the tool expects and explains."""

    exit_code = EXIT_INTERNAL

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class InputError(TcvcError):
    """An input is missing, unreadable, empty or not what it claims to be."""

    exit_code = EXIT_INPUT


class OutputError(TcvcError):
    """An output cannot be written where it was asked for."""

    exit_code = EXIT_OUTPUT


class UsageError(TcvcError):
    """Options that cannot work together or are out of range."""

    exit_code = EXIT_USAGE


class FfmpegError(TcvcError):
    """ffmpeg exited with an error; the message carries the tail of its stderr."""

    exit_code = EXIT_FFMPEG

    def __init__(self, message: str, stderr_tail: str = "", hint: str | None = None):
        detail = f"{message}\nffmpeg said:\n{stderr_tail.rstrip()}" if stderr_tail.strip() else message
        super().__init__(detail, hint)
        self.stderr_tail = stderr_tail


class ModelError(TcvcError):
    """A checkpoint is not a checkpoint, is truncated, or does not fit the model."""

    exit_code = EXIT_MODEL


class HubError(TcvcError):
    """A hub reference cannot be resolved, fetched or verified."""

    exit_code = EXIT_HUB


class TrainingError(TcvcError):
    """Training cannot start or cannot go on (bad data, NaN losses, bad run folder)."""

    exit_code = EXIT_TRAINING


class Interrupted(TcvcError):
    """Ctrl-C, after the work that can be kept was saved."""

    exit_code = EXIT_INTERRUPTED


class Preempted(Interrupted):
    """SIGTERM (Slurm preemption or scancel, Kubernetes, systemd), after resumable state was saved."""

    exit_code = EXIT_TERMINATED


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when SIGTERM arrives, so every Ctrl-C path (keep what is
    finished, save what can be resumed) runs for it too."""


class SomeInputsFailed(TcvcError):
    """Several inputs were processed and at least one failed; the others completed."""

    def __init__(self, failures: list[tuple[str, TcvcError]]):
        names = "; ".join(_name_once(name, err.message.splitlines()[0]) for name, err in failures)
        super().__init__(f"{len(failures)} input(s) failed: {names}")
        self.failures = failures
        # The first failure decides the code, so a script sees the kind of problem.
        self.exit_code = failures[0][1].exit_code


def _name_once(name: str, message: str) -> str:
    return message if message.startswith(name) else f"{name}: {message}"


EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_INTERNAL: "unexpected internal error (a bug: please report it with TCVC_DEBUG=1 output)",
    EXIT_USAGE: "bad command line: unknown option, bad value, options that conflict",
    EXIT_INPUT: "bad input: missing, empty, corrupt, truncated or not a video/frame folder",
    EXIT_OUTPUT: "output cannot be written: exists, unwritable, same as the input",
    EXIT_FFMPEG: "ffmpeg failed while decoding or encoding",
    EXIT_MODEL: "bad model checkpoint",
    EXIT_HUB: "hub reference cannot be resolved, downloaded or verified",
    EXIT_TRAINING: "training cannot start or continue",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C); finished outputs are kept, partial ones removed",
    EXIT_TERMINATED: "terminated by SIGTERM (preemption, scancel); resumable state is saved: rerun with --resume",
}


def interruption(signal_kind: KeyboardInterrupt | None, message: str, hint: str) -> Interrupted:
    """The error that reports a stop by Ctrl-C or, for a Terminated, by SIGTERM."""
    return (Preempted if isinstance(signal_kind, Terminated) else Interrupted)(message, hint=hint)
