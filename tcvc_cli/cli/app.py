"""The `tcvc` application: global flags, the help layout (panels, argument names), logging one
message per line, and errors mapped to exit codes (docs/pipeline.md#exit-codes).

Owns: app, main, reports_errors, state, err_console. Imports: errors, runtime.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
from collections.abc import Callable
from typing import Annotated, Any, Optional

import typer
import typer.core
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from .. import __version__
from ..errors import EXIT_CODES, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_TERMINATED, TcvcError, Terminated

GLOBAL_FLAGS = ("-q", "--quiet", "-v", "--verbose")


def hoist_global_flags(args: list[str], commands: set[str]) -> list[str]:
    """Let -q/-v stand after the subcommand and --json before it, as people type them:
    `tcvc colorize ep.mp4 -q` and `tcvc --json probe ep.mp4` mean what they say."""
    args = list(args)
    first = next((i for i, arg in enumerate(args) if arg in commands), None)
    if first is None:
        return args
    end = args.index("--") if "--" in args[first:] else len(args)
    flags = [arg for arg in args[first:end] if arg in GLOBAL_FLAGS]
    rest = [arg for arg in args[first:end] if arg not in GLOBAL_FLAGS]
    head = args[:first]
    json_first = "--json" in head
    head = [arg for arg in head if arg != "--json"]
    return head + flags + rest + (["--json"] if json_first else []) + args[end:]


class _Group(typer.core.TyperGroup):
    def parse_args(self, ctx, args: list[str]) -> list[str]:
        args = hoist_global_flags(args, set(self.commands))
        state.argv = list(args)  # the command line as given, for the run report's commands
        return super().parse_args(ctx, args)


class Command(typer.core.TyperCommand):
    """Plain-text help (nothing read as markup) with options grouped in panels, in order of
    first appearance (each option's `rich_help_panel`, or "Options"), arguments named by their
    metavar (LINEART...), and every default shown: flags that are off unless given say so."""

    def collect_usage_pieces(self, ctx) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = _argument_name(param)
                pieces.append(name if param.required else f"[{name}]")
        return pieces

    def format_options(self, ctx, formatter) -> None:
        panels: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                if not param.hidden:
                    panels.setdefault("Arguments", []).append(
                        (_argument_name(param), (param.help or "") + ("  [required]" if param.required else "")))
                continue
            record = param.get_help_record(ctx)
            if record is None:
                continue
            name, text = record
            if (getattr(param, "is_flag", False) and not param.secondary_opts and not param.default and "[default" not in text
                    and param.name != "help"):
                text = f"{text}  [default: off]"
            panels.setdefault(getattr(param, "rich_help_panel", None) or "Options", []).append((name, text))
        for panel, records in panels.items():
            with formatter.section(panel):
                formatter.write_dl(records)


def _argument_name(param) -> str:
    name = param.metavar or param.name.upper()
    return f"{name}..." if param.nargs == -1 and "..." not in name else name


app = typer.Typer(
    cls=_Group,
    name="tcvc",
    help="Colour line-art video with temporally coherent colorization (Thasarathan et al. 2019).\n\n"
         "The global options -q, -v and --json may stand before or after the command.",
    # Help text is plain text: "hf:ORG/REPO[/FILE][@REV]" must not be read as markup.
    rich_markup_mode=None,
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Exit codes: " + "; ".join(f"{code} {text.split(':')[0].split(';')[0].split(' (')[0]}" for code, text in sorted(EXIT_CODES.items())),
)


err_console = Console(stderr=True, highlight=False)


log = logging.getLogger("tcvc")


class _State:
    quiet = False
    stdout = sys.stdout  # where results go; everything else printed meanwhile goes to stderr
    argv: list[str] = []  # the arguments after `tcvc`, global flags in place


state = _State()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tcvc {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or warnings on stderr; errors only.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log details on stderr.")] = False,
    version: Annotated[Optional[bool], typer.Option("--version", "-V", callback=_version, is_eager=True, help="Print the version and exit.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the command's result as one JSON document on stdout (also after the command: tcvc probe ep.mp4 --json).")] = False,
) -> None:
    """Global options stand before or after the command: `tcvc -q colorize ...` and `tcvc colorize ... -q` are the same."""
    state.quiet = quiet
    level = logging.ERROR if quiet else logging.INFO if verbose else logging.WARNING
    log.handlers.clear()
    if err_console.is_terminal:
        handler: logging.Handler = RichHandler(console=err_console, show_time=False, show_path=False, markup=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:  # a log file or a pipe: one message per line, unpadded, whatever the width (grep-able)
        handler = _LineHandler()
    log.addHandler(handler)
    log.setLevel(level)
    log.propagate = False


class _LineHandler(logging.Handler):
    """Log records as `warning: message` lines on the current stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = " ".join(record.getMessage().splitlines())
            sys.stderr.write(f"{record.levelname.lower()}: {message}\n")
            sys.stderr.flush()
        except Exception:  # noqa: BLE001 - logging must never break the command
            self.handleError(record)


def print_error(error: TcvcError) -> None:
    # Messages carry paths and user text ("ep [01].mp4"): escaped, never read as markup.
    err_console.print(f"[bold red]error:[/] {escape(error.message)}", markup=True, highlight=False, soft_wrap=True)
    if error.hint:
        err_console.print(f"[yellow]hint:[/] {escape(error.hint)}", markup=True, highlight=False, soft_wrap=True)


def reports_errors(command: Callable) -> Callable:
    """Map every expected failure to its one-line message, hint and exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        # stdout carries the result alone: whatever a library prints while the command runs
        # (a download line, a warning) goes to stderr, so `tcvc ... --json | jq` always parses.
        state.stdout = sys.stdout
        try:
            with contextlib.redirect_stdout(sys.stderr):
                return command(*args, **kwargs)
        except TcvcError as error:
            print_error(error)
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt as stop:
            what = "terminated" if isinstance(stop, Terminated) else "interrupted"
            err_console.print(f"[bold red]{what}[/]: partial outputs were removed; finished ones are kept", markup=True)
            raise typer.Exit(EXIT_TERMINATED if isinstance(stop, Terminated) else EXIT_INTERRUPTED) from None
        except (typer.Exit, typer.Abort):
            raise
        except Exception as error:  # noqa: BLE001 - the last line of defence
            if os.environ.get("TCVC_DEBUG") == "1":
                raise
            err_console.print(f"[bold red]internal error:[/] {type(error).__name__}: {escape(str(error))}", markup=True)
            err_console.print("[yellow]hint:[/] run again with TCVC_DEBUG=1 for a traceback, and please report it", markup=True)
            raise typer.Exit(EXIT_INTERNAL) from None

    return wrapper


def main() -> None:
    """Console-script entry point."""
    try:
        from ..runtime import raise_on_sigterm  # imports torch: seconds on a busy machine

        raise_on_sigterm()
        app()
    except KeyboardInterrupt as stop:  # Ctrl-C or SIGTERM outside a command body (e.g. while importing torch)
        terminated = isinstance(stop, Terminated)
        err_console.print("terminated" if terminated else "interrupted")
        sys.exit(EXIT_TERMINATED if terminated else EXIT_INTERRUPTED)
