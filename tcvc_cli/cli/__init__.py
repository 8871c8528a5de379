"""The `tcvc` command line: parses options, draws progress, maps errors to exit codes.

Commands are thin: each builds option objects, calls an engine function and prints one
result (a table line or, with --json, one JSON object) on stdout. Everything else -
progress, warnings, errors - goes to stderr.

Modules: `app` (the application, help layout, logging, errors and exit codes), `options`
(shared options and panels), `output` (progress and results), then one module per command
family, each registering its commands on `app` when imported, in the order help lists them:
`prepare` (extract, lineart, probe), `colouring` (colorize), `training` (train), `evaluation`
(evaluate), `models`, `demo`; `reviewing` (review) follows colorize. Nothing below the CLI imports it.
"""

from __future__ import annotations

from .app import app, main, reports_errors, state
from .options import default_output, parse_shard
from .output import dumps, emit, progress_bar, run_batch, say

# isort: off
# Each command module registers its commands on `app` as it is imported, in the order of help.
from . import prepare, colouring, reviewing, training, evaluation, models, demo
# isort: on

__all__ = [
    'app', 'main', 'reports_errors', 'state', 'default_output', 'parse_shard', 'dumps', 'emit', 'progress_bar',
    'run_batch', 'say', 'prepare', 'colouring', 'reviewing', 'training', 'evaluation', 'models', 'demo'
]
