"""`tcvc models`: list the cache, show a model, pull one from the hub, print its path, verify it.

Imports: cli.app, cli.options, cli.output; model.checkpoint, lineart (inside).
"""

from __future__ import annotations

from typing import Annotated

import typer
import typer.core

from ..errors import UsageError
from .app import Command, app, log, reports_errors
from .options import CacheDirOpt, JsonOpt, OfflineOpt
from .output import dumps, emit, say

models_app = typer.Typer(help="Models: list the cache, show one, pull from the hub, print its path, verify it.",
                         no_args_is_help=True, rich_markup_mode=None)
app.add_typer(models_app, name="models")


@models_app.command("list", cls=Command)
@reports_errors
def models_list(cache_dir: CacheDirOpt = None, as_json: JsonOpt = False) -> None:
    """Models in the cache, with sizes, revisions and configs."""
    from ..model.checkpoint import cached_models, default_cache_dir

    rows = cached_models(cache_dir)
    if as_json:
        say(dumps({"cache_dir": str(cache_dir or default_cache_dir()), "models": rows}))
        return
    if not rows:
        log.warning("no models in the cache %s (tcvc models pull hf:ORG/REPO adds one)", cache_dir or default_cache_dir())
    for row in rows:
        config = row.get("config")
        summary = _describe_config(config) if config else row.get("config_error", "-")
        lineage = row.get("lineage") or []
        origin = f"\tfine-tuned from {' <- '.join(step.get('reference', '?') for step in lineage)}" if lineage else ""
        say(f"{row['reference']}\t{row['size'] / 1e6:.1f} MB\t{summary}{origin}")


def _describe_config(config: dict) -> str:
    from ..lineart import LineartParams

    lines = LineartParams.from_json(config["input"]).label
    return f"{config['arch']} ngf={config['ngf']} blocks={config['n_blocks']} {lines} {config['image_size']}px"


@models_app.command("show", cls=Command)
@reports_errors
def models_show(reference: Annotated[str, typer.Argument(metavar="MODEL", help="A run folder, a .safetensors file or hf:ORG/REPO[/FILE][@REVISION]")],
                cache_dir: CacheDirOpt = None, offline: OfflineOpt = False, as_json: JsonOpt = False) -> None:
    """A model's architecture, line art, training step and lineage: what it was fine-tuned from, and on what."""
    from ..model.checkpoint import lineage_of, read_metadata, resolve_model, sha256_of

    path = resolve_model(reference, cache_dir=cache_dir, offline=offline)
    config, extra = read_metadata(path)
    lineage = lineage_of(extra)
    summary = {"reference": reference, "path": str(path), "sha256": sha256_of(path), "config": config.to_json(),
               "step": extra.get("step"), "fine_tuned_on": extra.get("fine_tuned_on"), "lineage": lineage}
    text = [f"{path}", f"  {_describe_config(config.to_json())}, step {extra.get('step', '?')}"]
    if lineage:
        text.append(f"  fine-tuned on {extra.get('fine_tuned_on', '?')}")
        text += [f"  {'from' if i == 0 else '  <-'} {step.get('reference')} (sha256 {str(step.get('sha256', ''))[:12]})"
                 for i, step in enumerate(lineage)]
    else:
        text.append("  trained from scratch")
    emit(summary, as_json, "\n".join(text))


@models_app.command("pull", cls=Command)
@reports_errors
def models_pull(reference: Annotated[str, typer.Argument(metavar="MODEL", help="hf:ORG/REPO[/FILE][@REVISION]")], cache_dir: CacheDirOpt = None,
                as_json: JsonOpt = False) -> None:
    """Download a model into the cache (and verify it)."""
    from ..model.checkpoint import fetch, parse_hub_reference, read_config, sha256_of

    ref = parse_hub_reference(reference)
    if ref is None:
        raise UsageError(f"{reference!r} is not a hub reference", hint="use hf:ORG/REPO[/FILE][@REVISION]")
    path = fetch(ref, cache_dir=cache_dir)
    config = read_config(path)
    emit({"reference": str(ref), "path": str(path), "sha256": sha256_of(path), "config": config.to_json()}, as_json, str(path))


@models_app.command("path", cls=Command)
@reports_errors
def models_path(reference: Annotated[str, typer.Argument(metavar="MODEL", help="hf:ORG/REPO[/FILE][@REVISION], a run folder or a .safetensors file")],
                cache_dir: CacheDirOpt = None, offline: OfflineOpt = False, as_json: JsonOpt = False) -> None:
    """Print the local file a model reference resolves to."""
    from ..model.checkpoint import resolve_model

    path = resolve_model(reference, cache_dir=cache_dir, offline=offline)
    emit({"reference": reference, "path": str(path)}, as_json, str(path))


@models_app.command("verify", cls=Command)
@reports_errors
def models_verify(reference: Annotated[str, typer.Argument(metavar="MODEL", help="hf:ORG/REPO[/FILE][@REVISION], a run folder or a .safetensors file")],
                  cache_dir: CacheDirOpt = None, offline: OfflineOpt = False, as_json: JsonOpt = False) -> None:
    """Check a model's sha256 (when known) and that its weights load into its architecture."""
    from ..model.checkpoint import expected_sha256, load_generator

    loaded = load_generator(reference, cache_dir=cache_dir, offline=offline)
    expected, source = expected_sha256(loaded.path)
    summary = {"reference": reference, "path": str(loaded.path), "sha256": loaded.sha256, "sha256_checked_against": source,
               "config": loaded.config.to_json(), "ok": True}
    emit(summary, as_json, f"ok\t{loaded.path}\tsha256 {loaded.sha256}" + ("" if expected else "\t(no published sha256)"))
