"""Checkpoints: self-describing, strict, never unpickled; hub references from an offline cache."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest
import torch

from tcvc_cli.checkpoint import load_generator, parse_hub_reference, save_generator
from tcvc_cli.config import model_preset
from tcvc_cli.errors import EXIT_HUB, EXIT_MODEL, EXIT_USAGE, HubError, ModelError
from tcvc_cli.networks import define_generator

from .conftest import plain_tiny

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def make_hub_cache(root, checkpoint, repo="studio/tcvc-tiny", filename="model.safetensors", as_blob=True):
    """The huggingface-hub cache layout: refs/main -> commit, snapshots/<commit>/FILE (-> blobs/<sha256>)."""
    base = root / f"models--{repo.replace('/', '--')}"
    (base / "refs").mkdir(parents=True)
    (base / "refs" / "main").write_text(COMMIT)  # no trailing newline
    snapshot = base / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    data = checkpoint.read_bytes()
    if as_blob:
        digest = hashlib.sha256(data).hexdigest()
        (base / "blobs").mkdir()
        (base / "blobs" / digest).write_bytes(data)
        (snapshot / filename).symlink_to(f"../../blobs/{digest}")
    else:
        (snapshot / filename).write_bytes(data)
    return base


def test_checkpoint_carries_its_config(tiny_checkpoint):
    loaded = load_generator(tiny_checkpoint)
    assert loaded.config == plain_tiny()
    out = loaded.model(torch.ones(1, 1, 32, 32), torch.zeros(1, 3, 32, 32))
    assert out.shape == (1, 3, 32, 32) and 0 <= out.min() and out.max() <= 1


def test_run_folder_prefers_best_then_latest(tiny_checkpoint, tmp_path):
    shutil.copy(tiny_checkpoint, tmp_path / "generator-latest.safetensors")
    assert load_generator(tmp_path).path.name == "generator-latest.safetensors"
    shutil.copy(tiny_checkpoint, tmp_path / "generator-best.safetensors")
    assert load_generator(tmp_path).path.name == "generator-best.safetensors"


def test_not_a_checkpoint(tmp_path):
    fake = tmp_path / "model.safetensors"
    fake.write_text("hello, I am text")
    with pytest.raises(ModelError, match="not a readable safetensors"):
        load_generator(fake)


def test_truncated_checkpoint(tiny_checkpoint, tmp_path):
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(tiny_checkpoint.read_bytes()[:-500])
    with pytest.raises(ModelError):
        load_generator(cut)


def test_checkpoint_of_another_architecture_names_the_keys(tmp_path):
    unet = model_preset("pix2pix").with_overrides(ngf=4)
    path = save_generator(tmp_path / "unet.safetensors", define_generator(unet), model_preset("tiny"))
    with pytest.raises(ModelError, match="missing .* weight"):
        load_generator(path)


def test_missing_keys_are_named(tmp_path):
    config = model_preset("tiny")
    model = define_generator(config)
    from safetensors.torch import save_file

    state = {k: v for k, v in model.state_dict().items() if not k.startswith("model.1.")}
    save_file(state, str(tmp_path / "partial.safetensors"), metadata={"tcvc.config": config.dumps()})
    with pytest.raises(ModelError, match="model.1.weight"):
        load_generator(tmp_path / "partial.safetensors")


def test_legacy_pth_is_read_weights_only(tmp_path):
    config = model_preset("tiny")
    model = define_generator(config)
    torch.save({"generator": model.state_dict(), "config": config.to_json()}, tmp_path / "legacy.pth")
    assert load_generator(tmp_path / "legacy.pth").config == config

    class Evil:
        def __reduce__(self):
            return (print, ("pickled code ran",))

    torch.save({"payload": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(ModelError, match="weights-only"):
        load_generator(tmp_path / "evil.pth")


@pytest.mark.parametrize("gated", [True, False])
def test_legacy_weights_without_a_config_are_recognised(tmp_path, gated):
    config = model_preset("tiny").with_overrides(copy_gate=gated)
    torch.save(define_generator(config).state_dict(), tmp_path / "bare.pth")
    loaded = load_generator(tmp_path / "bare.pth").config
    assert (loaded.ngf, loaded.n_blocks, loaded.copy_gate) == (config.ngf, config.n_blocks, gated)


@pytest.mark.parametrize("text,repo,file,rev", [
    ("hf:studio/tcvc", "studio/tcvc", "model.safetensors", None),
    ("hf:studio/tcvc/v2/gen.safetensors@main", "studio/tcvc", "v2/gen.safetensors", "main"),
    ("hf:studio/tcvc@" + COMMIT, "studio/tcvc", "model.safetensors", COMMIT),
])
def test_hub_references(text, repo, file, rev):
    ref = parse_hub_reference(text)
    assert (ref.repo_id, ref.filename, ref.revision) == (repo, file, rev)


def test_hub_model_loads_offline_from_the_cache(tiny_checkpoint, tmp_path):
    make_hub_cache(tmp_path, tiny_checkpoint)
    loaded = load_generator("hf:studio/tcvc-tiny", cache_dir=tmp_path, offline=True)
    assert loaded.config == plain_tiny()
    assert loaded.sha256 == hashlib.sha256(tiny_checkpoint.read_bytes()).hexdigest()


def test_hub_file_with_a_wrong_sha256_is_refused(tiny_checkpoint, tmp_path):
    base = make_hub_cache(tmp_path, tiny_checkpoint)
    blob = next((base / "blobs").iterdir())
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(HubError, match="sha256 mismatch"):
        load_generator("hf:studio/tcvc-tiny", cache_dir=tmp_path, offline=True)


def test_sidecar_sha256_is_checked(tiny_checkpoint, tmp_path):
    base = make_hub_cache(tmp_path, tiny_checkpoint, as_blob=False)
    (base / "snapshots" / COMMIT / "model.safetensors.sha256").write_text("0" * 64 + "  model.safetensors\n")
    with pytest.raises(HubError, match="sidecar"):
        load_generator("hf:studio/tcvc-tiny", cache_dir=tmp_path, offline=True)


def test_unknown_hub_reference_offline(tmp_path):
    with pytest.raises(HubError, match="not in the cache"):
        load_generator("hf:nobody/nothing", cache_dir=tmp_path, offline=True)


def test_models_cli_list_path_verify(cli, tiny_checkpoint, tmp_path):
    make_hub_cache(tmp_path, tiny_checkpoint)
    listed = cli("models", "list", "--cache-dir", tmp_path, "--json")
    assert listed.exit_code == 0, listed.stderr
    rows = json.loads(listed.stdout)["models"]
    assert rows[0]["repo"] == "studio/tcvc-tiny" and rows[0]["config"]["ngf"] == 8
    path = cli("models", "path", "hf:studio/tcvc-tiny", "--cache-dir", tmp_path, "--offline")
    assert path.stdout.strip().endswith("model.safetensors")
    verified = cli("models", "verify", "hf:studio/tcvc-tiny", "--cache-dir", tmp_path, "--offline", "--json")
    assert json.loads(verified.stdout)["sha256_checked_against"] == "hub"
    missing = cli("models", "path", "hf:nobody/nothing", "--cache-dir", tmp_path, "--offline")
    assert missing.exit_code == EXIT_HUB


def test_colorize_cli_from_hub_cache_with_env_cache_dir(cli, tiny_checkpoint, cut_clip, tmp_path, monkeypatch):
    make_hub_cache(tmp_path / "cache", tiny_checkpoint)
    monkeypatch.setenv("TCVC_CACHE_DIR", str(tmp_path / "cache"))
    result = cli("colorize", cut_clip[0], "-m", "hf:studio/tcvc-tiny", "--offline", "-o", tmp_path / "out.mp4", "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)["results"][0]
    assert summary["frames"] == 24 and summary["cuts"] == [12] and summary["shots"] == 2


def test_colorize_cli_bad_inputs(cli, tiny_checkpoint, cut_clip, tmp_path):
    bad_model = tmp_path / "bad.safetensors"
    bad_model.write_text("nope")
    result = cli("colorize", cut_clip[0], "-m", bad_model, "-o", tmp_path / "o.mp4")
    assert result.exit_code == EXIT_MODEL and "not a readable safetensors" in result.stderr
    shard = cli("colorize", cut_clip[0], "-m", tiny_checkpoint, "--shard", "3/2")
    assert shard.exit_code == EXIT_USAGE and "between 1 and N" in shard.stderr
    assert not (tmp_path / "o.mp4").exists()


def test_colorize_cli_shards_and_skip_existing(cli, tiny_checkpoint, cut_clip, tmp_path):
    episodes = tmp_path / "episodes"
    episodes.mkdir()
    for name in ("a", "b", "c"):
        shutil.copy(cut_clip[0], episodes / f"{name}.mp4")
    out = tmp_path / "out"
    first = cli("colorize", episodes, "-m", tiny_checkpoint, "--output-dir", out, "--shard", "1/2", "--json")
    assert first.exit_code == 0, first.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a_color.mp4", "c_color.mp4"]
    again = cli("colorize", episodes, "-m", tiny_checkpoint, "--output-dir", out, "--skip-existing", "--json")
    results = json.loads(again.stdout)["results"]
    assert [r.get("skipped", False) for r in results] == [True, False, True]


def test_a_shard_with_no_inputs_says_so_and_exits_0(cli, tiny_checkpoint, cut_clip, tmp_path):
    result = cli("colorize", cut_clip[0], "-m", tiny_checkpoint, "--output-dir", tmp_path / "out", "--shard", "2/2", "--json")
    assert result.exit_code == 0
    assert "no inputs in this shard" in result.stderr and "2/2" in result.stderr
    assert json.loads(result.stdout)["results"] == []
