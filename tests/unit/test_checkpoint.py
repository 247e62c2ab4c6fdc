"""Loading official-format checkpoints, clear errors for wrong files, the download cache."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

import masklet
from masklet.checkpoint import (
    OFFICIAL_CHECKPOINTS,
    CheckpointError,
    guess_config,
    load_checkpoint,
    read_state_dict,
    resolve_checkpoint,
    save_safetensors,
)
from masklet.model import Sam2
from masklet.presets import PRESETS


def test_official_format_loads_strictly(standin_checkpoint) -> None:
    path = standin_checkpoint("sam2.1_hiera_t")
    assert set(torch.load(path, weights_only=True)) == {"model"}
    model = masklet.build_model("sam2.1_hiera_t", path, device="cpu")
    sd = read_state_dict(path)
    for key, value in model.state_dict().items():
        assert torch.equal(value, sd[key]), key


def test_safetensors_round_trip(standin_checkpoint, tmp_path: Path) -> None:
    sd = read_state_dict(standin_checkpoint("sam2.1_hiera_t"))
    path = save_safetensors(sd, tmp_path / "tiny.safetensors")
    model = masklet.build_model("sam2.1-tiny", path, device="cpu")
    torch.testing.assert_close(model.no_mem_embed, sd["no_mem_embed"])


def test_wrong_config_names_config_keys_and_the_right_one(standin_checkpoint) -> None:
    path = standin_checkpoint("sam2.1_hiera_t")
    with pytest.raises(CheckpointError) as info:
        masklet.build_model("sam2.1_hiera_s", path, device="cpu")
    text = str(info.value)
    assert "'sam2.1_hiera_s'" in text and "missing keys" in text and "image_encoder.trunk.blocks.12" in text
    assert "matches config 'sam2.1_hiera_t'" in text


def test_sam2_checkpoint_into_sam2_1_reports_missing_keys(standin_checkpoint) -> None:
    with pytest.raises(CheckpointError, match=r"3 missing keys: no_obj_embed_spatial, obj_ptr_tpos_proj.weight, obj_ptr_tpos_proj.bias"):
        masklet.build_model("sam2.1_hiera_t", standin_checkpoint("sam2_hiera_t"), device="cpu")


def test_shape_mismatch_and_unexpected_keys(tmp_path: Path) -> None:
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in Sam2(PRESETS["sam2.1_hiera_t"]).state_dict().items()}
    sd = {k: torch.zeros(s) for k, s in shapes.items()}
    sd["no_mem_embed"] = torch.zeros(1, 1, 128)
    sd["extra.weight"] = torch.zeros(3)
    torch.save({"model": sd}, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(Sam2(PRESETS["sam2.1_hiera_t"]), tmp_path / "bad.pt", "sam2.1_hiera_t")
    text = str(info.value)
    assert "1 unexpected keys: extra.weight" in text
    assert "no_mem_embed: checkpoint (1, 1, 128) vs model (1, 1, 256)" in text


def test_not_a_checkpoint(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"this is not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        read_state_dict(junk)
    torch.save({"model": [1, 2]}, tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="holds no state dict"):
        read_state_dict(tmp_path / "list.pt")
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        read_state_dict(tmp_path / "missing.pt")
    with pytest.raises(FileNotFoundError, match="neither a file, a URL"):
        resolve_checkpoint(tmp_path / "missing.pt")


def test_guess_config(standin_checkpoint) -> None:
    assert guess_config(read_state_dict(standin_checkpoint("sam2_hiera_t"))) == "sam2_hiera_t"


def test_official_registry() -> None:
    entry = OFFICIAL_CHECKPOINTS["sam2.1_hiera_b+"]
    assert entry.url == "https://dl.fbaipublicfiles.com/segment_anything_2/092824/sam2.1_hiera_base_plus.pt"
    assert entry.hub_id == "facebook/sam2.1-hiera-base-plus"
    assert OFFICIAL_CHECKPOINTS["sam2_hiera_t"].url.endswith("/072824/sam2_hiera_tiny.pt")
    edgetam = OFFICIAL_CHECKPOINTS["edgetam"]
    assert edgetam.url == "https://github.com/facebookresearch/EdgeTAM/raw/main/checkpoints/edgetam.pt"
    assert edgetam.hub_url == "https://huggingface.co/spaces/chongzhou/EdgeTAM/resolve/main/checkpoints/edgetam.pt"
    assert len(OFFICIAL_CHECKPOINTS) == 9


def test_url_download_is_cached_and_checksummed(standin_checkpoint, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MASKLET_CACHE", str(tmp_path / "cache"))
    source = standin_checkpoint("sam2.1_hiera_t")
    url = source.resolve().as_uri()
    local, _ = resolve_checkpoint(url, progress=False)
    assert local.is_file() and local != source and str(tmp_path / "cache") in str(local)
    record = local.with_name(local.name + ".sha256").read_text().strip()
    assert record == hashlib.sha256(source.read_bytes()).hexdigest()
    assert resolve_checkpoint(url, progress=False)[0] == local  # second time from the cache
    # A cached file that changed afterwards is refused, not silently used.
    with open(local, "r+b") as f:
        f.seek(1000)
        f.write(b"corrupt")
    with pytest.raises(CheckpointError, match="fails its checksum"):
        resolve_checkpoint(url, progress=False)


def test_hub_id_resolves_through_the_hub_endpoint(standin_checkpoint, tmp_path: Path, monkeypatch) -> None:
    hub = tmp_path / "hub" / "facebook" / "sam2.1-hiera-tiny" / "resolve" / "main"
    hub.mkdir(parents=True)
    (hub / "sam2.1_hiera_tiny.pt").write_bytes(standin_checkpoint("sam2.1_hiera_t").read_bytes())
    monkeypatch.setenv("MASKLET_HUB_ENDPOINT", (tmp_path / "hub").as_uri())
    monkeypatch.setenv("MASKLET_CACHE", str(tmp_path / "cache"))
    predictor = masklet.SAM2ImagePredictor.from_pretrained("facebook/sam2.1-hiera-tiny", device="cpu")
    assert predictor.model.cfg.name == "sam2.1_hiera_t"
    assert (tmp_path / "cache" / "sam2.1_hiera_tiny.pt").is_file()


def test_failed_download_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MASKLET_CACHE", str(tmp_path / "cache"))
    with pytest.raises(Exception):
        resolve_checkpoint((tmp_path / "nowhere.pt").as_uri(), progress=False)
    leftovers = list((tmp_path / "cache").rglob("*")) if (tmp_path / "cache").exists() else []
    assert not [p for p in leftovers if p.is_file()]


def test_checksum_mismatch_on_download(tmp_path: Path) -> None:
    from masklet.checkpoint import download

    src = tmp_path / "f.bin"
    src.write_bytes(b"abc")
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        download(src.as_uri(), tmp_path / "out" / "f.bin", sha256="0" * 64, progress=False)
    assert not any((tmp_path / "out").iterdir())
