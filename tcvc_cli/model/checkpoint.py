"""Self-describing generator checkpoints and model references (local paths or the hub).

A checkpoint is a safetensors file whose metadata holds the model config (architecture and
input convention), so `tcvc colorize --model X` needs no architecture flags. Loading is
strict: missing or unexpected weights are an error that names them. Legacy `.pth` files are
read with `torch.load(weights_only=True)` only; nothing is ever unpickled.

Hub references look like `hf:ORG/REPO[/FILE][@REVISION]`. Files are fetched with
huggingface-hub into tcvc's cache, verified by sha256 when the hub or a `FILE.sha256` sidecar
knows it, and used offline when the network is down or `--offline` is given.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..errors import HubError, ModelError
from .config import ModelConfig
from .networks import define_generator

log = logging.getLogger("tcvc")

FORMAT_VERSION = "1"
DEFAULT_HUB_FILE = "model.safetensors"
RUN_DIR_CHOICES = ("generator-best.safetensors", "generator-latest.safetensors", "generator.safetensors")


# --------------------------------------------------------------------------- saving / loading


def save_generator(path: Path, model: nn.Module, config: ModelConfig, extra: dict | None = None) -> Path:
    """Write generator weights + config atomically as safetensors."""
    from safetensors.torch import save_file

    path = Path(path)
    state = {k: v.detach().to("cpu").contiguous() for k, v in _unwrap(model).state_dict().items()}
    metadata = {"tcvc.format": FORMAT_VERSION, "tcvc.kind": "generator", "tcvc.config": config.dumps()}
    if extra:
        metadata["tcvc.extra"] = json.dumps(extra, sort_keys=True, default=str)
    temp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    save_file(state, str(temp), metadata=metadata)
    follow_umask(temp)
    os.replace(temp, path)
    return path


def follow_umask(path: Path) -> None:
    """Give a file the permissions open() would have: safetensors writes its files owner-only,
    and render nodes running as other users must read the model."""
    os.chmod(path, 0o666 & ~_umask())


def _umask() -> int:
    # Read, not set and restored: another thread could create a file in between.
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _unwrap(model: nn.Module) -> nn.Module:
    model = getattr(model, "module", model)  # DistributedDataParallel
    return getattr(model, "_orig_mod", model)  # torch.compile


@dataclass
class LoadedModel:
    model: nn.Module
    config: ModelConfig
    path: Path
    extra: dict
    sha256: str


def read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], ModelConfig, dict]:
    """Weights, config and extra metadata of a checkpoint file, without building the model."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such checkpoint file")
    if path.stat().st_size == 0:
        raise ModelError(f"{path}: the checkpoint is empty (0 bytes)")
    if path.suffix in (".pth", ".pt", ".ckpt"):
        return _read_legacy(path)
    metadata, state = _open_safetensors(path, with_weights=True)
    return state, _config_from_metadata(path, metadata), json.loads(metadata.get("tcvc.extra", "{}"))


def read_config(path: Path) -> ModelConfig:
    """Only the embedded config of a safetensors checkpoint (no weights are read)."""
    metadata, _ = _open_safetensors(Path(path), with_weights=False)
    return _config_from_metadata(Path(path), metadata)


def read_metadata(path: Path) -> tuple[ModelConfig, dict]:
    """The embedded config and extra metadata (step, lineage ...) of a checkpoint, without weights."""
    path = Path(path)
    if path.suffix != ".safetensors":
        _, config, extra = read_checkpoint(path)
        return config, extra
    metadata, _ = _open_safetensors(path, with_weights=False)
    try:
        extra = json.loads(metadata.get("tcvc.extra", "{}"))
    except ValueError:
        extra = {}
    return _config_from_metadata(path, metadata), extra if isinstance(extra, dict) else {}


def lineage_of(extra: dict) -> list[dict]:
    """The models a checkpoint was fine-tuned from, nearest first (empty: trained from scratch)."""
    lineage = extra.get("lineage") or []
    return [step for step in lineage if isinstance(step, dict)]


def _open_safetensors(path: Path, with_weights: bool) -> tuple[dict, dict[str, torch.Tensor]]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            state = {key: handle.get_tensor(key) for key in handle.keys()} if with_weights else {}
    except Exception as exc:  # safetensors raises its own error types for every kind of damage
        raise ModelError(f"{path}: not a readable safetensors checkpoint ({_short(exc)})",
                         hint="the file is truncated, corrupt or not a tcvc model") from None
    return metadata, state


def _config_from_metadata(path: Path, metadata: dict) -> ModelConfig:
    if "tcvc.config" not in metadata:
        raise ModelError(f"{path}: a safetensors file without tcvc's model config",
                         hint="tcvc checkpoints are written by `tcvc train`; this file came from elsewhere")
    try:
        config = ModelConfig.from_json(json.loads(metadata["tcvc.config"]))
    except (ValueError, TypeError) as exc:
        raise ModelError(f"{path}: the embedded model config is unreadable ({exc})") from None
    return config


def _read_legacy(path: Path) -> tuple[dict[str, torch.Tensor], ModelConfig, dict]:
    try:
        blob = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - refuse anything weights_only cannot read
        raise ModelError(f"{path}: not a readable weights-only checkpoint ({_short(exc)})",
                         hint="tcvc never unpickles arbitrary objects; convert the file to safetensors") from None
    if not isinstance(blob, dict):
        raise ModelError(f"{path}: holds a {type(blob).__name__}, not a dictionary of weights")
    state = blob.get("generator", blob.get("state_dict", blob))
    config_data = blob.get("config")
    if isinstance(config_data, str):
        config_data = json.loads(config_data)
    if isinstance(config_data, dict) and "model" in config_data:
        config_data = config_data["model"]
    config = ModelConfig.from_json(config_data) if isinstance(config_data, dict) else infer_config(state, path)
    return {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}, config, {}


def infer_config(state: dict, path: Path) -> ModelConfig:
    """Recover a residual generator's sizes from its weight shapes (legacy files only)."""
    first = state.get("model.1.weight")
    if not isinstance(first, torch.Tensor) or first.dim() != 4:
        raise ModelError(f"{path}: a legacy checkpoint without a config, and not a tcvc residual generator")
    blocks = {int(m.group(1)) for key in state if (m := re.match(r"model\.(\d+)\.body\.", key))}
    convs = sorted(((int(m.group(1)), v) for key, v in state.items()
                    if (m := re.fullmatch(r"model\.(\d+)\.weight", key)) and isinstance(v, torch.Tensor) and v.dim() == 4),
                   key=lambda item: item[0])
    downs = sum(1 for _, v in convs if v.shape[-1] == 4) // 2
    gated = convs[-1][1].shape[0] == 4  # the last conv paints RGB, plus the gate in gated generators
    return ModelConfig(ngf=first.shape[0], n_blocks=len(blocks), n_downsampling=max(downs, 1), use_previous=first.shape[1] >= 4, condition="motion" if first.shape[1] == 5 else "previous",
                       copy_gate=gated)


def build_generator(state: dict[str, torch.Tensor], config: ModelConfig, path: Path) -> nn.Module:
    """Instantiate the generator of `config` and load `state` strictly."""
    model = define_generator(config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} weight(s): {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} weight(s): {', '.join(unexpected[:5])}{' ...' if len(unexpected) > 5 else ''}")
        raise ModelError(f"{path}: the weights do not match a {config.arch} generator ({'; '.join(parts)})",
                         hint="the file belongs to another architecture or was cut short")
    wrong = [k for k in expected if expected[k].shape != state[k].shape]
    if wrong:
        key = wrong[0]
        raise ModelError(f"{path}: weight {key} has shape {tuple(state[key].shape)}, the config expects {tuple(expected[key].shape)}",
                         hint="the embedded config does not describe these weights")
    model.load_state_dict(state, strict=True)
    model.eval()
    return model


def load_generator(reference: str | os.PathLike, *, cache_dir: Path | None = None, offline: bool = False) -> LoadedModel:
    """Resolve a local path, run folder or hub reference and load its generator."""
    path = resolve_model(str(reference), cache_dir=cache_dir, offline=offline)
    state, config, extra = read_checkpoint(path)
    model = build_generator(state, config, path)
    return LoadedModel(model=model, config=config, path=path, extra=extra, sha256=sha256_of(path))


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- references


@dataclass(frozen=True)
class HubReference:
    repo_id: str
    filename: str = DEFAULT_HUB_FILE
    revision: str | None = None

    def __str__(self) -> str:
        rev = f"@{self.revision}" if self.revision else ""
        return f"hf:{self.repo_id}/{self.filename}{rev}"


_HUB_RE = re.compile(r"hf:(?P<org>[\w.-]+)/(?P<repo>[\w.-]+)(?:/(?P<file>[^@]+))?(?:@(?P<rev>[\w./-]+))?")


def parse_hub_reference(text: str) -> HubReference | None:
    """`hf:ORG/REPO[/FILE][@REVISION]` -> HubReference; None for anything not starting with hf:."""
    if not text.startswith("hf:"):
        return None
    match = _HUB_RE.fullmatch(text)
    if not match:
        raise HubError(f"cannot read hub reference {text!r}", hint="use hf:ORG/REPO[/FILE][@REVISION]")
    return HubReference(f"{match['org']}/{match['repo']}", match["file"] or DEFAULT_HUB_FILE, match["rev"])


def default_cache_dir() -> Path:
    """TCVC_CACHE_DIR, else the platform's user cache folder for tcvc, + /hub."""
    env = os.environ.get("TCVC_CACHE_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("tcvc")) / "hub"


def resolve_model(reference: str, *, cache_dir: Path | None = None, offline: bool = False) -> Path:
    """A local checkpoint file: the path itself, a run folder's best/latest, or a hub download."""
    hub = parse_hub_reference(reference)
    if hub is not None:
        return fetch(hub, cache_dir=cache_dir, offline=offline)
    path = Path(reference)
    if path.is_dir():
        for name in RUN_DIR_CHOICES:
            if (path / name).is_file():
                return path / name
        raise ModelError(f"{path}: a folder without a generator checkpoint ({', '.join(RUN_DIR_CHOICES)})",
                         hint="pass a .safetensors file or a run folder written by `tcvc train`")
    if not path.exists():
        raise ModelError(f"{path}: no such checkpoint", hint="pass a .safetensors file, a run folder, or hf:ORG/REPO")
    return path


def hub_endpoint() -> str:
    """The hub tcvc downloads from: huggingface.co, or an internal mirror named by HF_ENDPOINT."""
    from huggingface_hub import constants

    return constants.ENDPOINT


def fetch(ref: HubReference, *, cache_dir: Path | None = None, offline: bool = False) -> Path:
    """Download (or find in the cache) a hub file, then verify it."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (EntryNotFoundError, LocalEntryNotFoundError, RepositoryNotFoundError,
                                        RevisionNotFoundError)

    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    offline = offline or os.environ.get("HF_HUB_OFFLINE") == "1"

    def download(local_only: bool) -> Path:
        return Path(hf_hub_download(ref.repo_id, ref.filename, revision=ref.revision, cache_dir=str(cache),
                                    local_files_only=local_only))

    try:
        if offline:
            path = download(True)
        else:
            try:
                path = download(False)
            except (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError):
                raise
            except Exception as exc:  # noqa: BLE001 - any network failure: fall back to the cache
                log.warning("hub unreachable (%s); using the cached copy of %s", _short(exc), ref)
                path = download(True)
    except LocalEntryNotFoundError:
        raise HubError(f"{ref}: not in the cache at {cache} and the hub at {hub_endpoint()} cannot be reached"
                       + (" (offline mode)" if offline else ""),
                       hint="run `tcvc models pull` on a connected machine, or copy the cache folder here") from None
    except (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError) as exc:
        raise HubError(f"{ref}: {_short(exc)}", hint="check the organisation, repository, file and revision") from None
    verify(path, ref)
    return path


def expected_sha256(path: Path) -> tuple[str | None, str]:
    """The sha256 the cache layout or a sidecar file promises for `path`, and where it came from."""
    sidecar = path.with_name(path.name + ".sha256")
    if sidecar.is_file():
        text = sidecar.read_text("utf-8").split()
        if text and re.fullmatch(r"[0-9a-f]{64}", text[0].lower()):
            return text[0].lower(), "sidecar"
    # In a hub cache, large (LFS) files are stored as blobs named by their sha256.
    if path.is_symlink():
        blob = Path(os.path.realpath(path)).name
        if re.fullmatch(r"[0-9a-f]{64}", blob):
            return blob, "hub"
    return None, "none"


def verify(path: Path, ref: HubReference | str) -> str:
    """Check `path` against its known sha256; returns the digest. HubError on mismatch."""
    expected, source = expected_sha256(path)
    actual = sha256_of(path)
    if expected and expected != actual:
        raise HubError(f"{ref}: sha256 mismatch ({source} says {expected[:12]}..., the file is {actual[:12]}...)",
                       hint="the cached file is damaged: delete it and pull again")
    if not expected:
        log.info("%s: no published sha256 to verify against", ref)
    return actual


def cached_models(cache_dir: Path | None = None) -> list[dict]:
    """Every file in tcvc's hub cache with its size, revision and (for checkpoints) config."""
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    try:
        info = scan_cache_dir(cache)
    except CacheNotFound:
        return []
    rows = []
    for repo in sorted(info.repos, key=lambda r: r.repo_id):
        for revision in repo.revisions:
            for file in sorted(revision.files, key=lambda f: f.file_name):
                if file.file_name.endswith(".sha256"):
                    continue
                row = {"reference": f"hf:{repo.repo_id}/{file.file_path.relative_to(revision.snapshot_path)}@{revision.commit_hash[:12]}",
                       "repo": repo.repo_id, "file": file.file_name, "revision": revision.commit_hash,
                       "refs": sorted(revision.refs), "size": file.size_on_disk, "path": str(file.file_path)}
                if file.file_name.endswith(".safetensors"):
                    try:
                        config, extra = read_metadata(file.file_path)
                        row["config"] = config.to_json()
                        row["lineage"] = lineage_of(extra)
                    except ModelError as exc:
                        row["config_error"] = exc.message
                rows.append(row)
    return rows
