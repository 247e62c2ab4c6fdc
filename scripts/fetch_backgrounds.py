"""Fetch freely licensed photos for masklet-nano's training backgrounds and cut-outs.

They come from Debian wallpaper packages (fetched with `apt-get download` from the Debian
archive, pinned to a version and a SHA-256), are scaled to at most 960 pixels on their
longer side and written as OUT/PACKAGE__NAME.jpg, with each package's copyright file
under OUT/licenses/ and OUT/LICENSES.md naming every image's copyright and license. They
are not shipped in the masklet package (several are CC-BY-SA or GPL); the training recipe
(scripts/train_nano.sh) fetches them. None of them is among the independent test
families' photos (masklet/eval/photos, from scikit-image).

Usage: python scripts/fetch_backgrounds.py OUT
"""

from __future__ import annotations

import fnmatch
import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

# package: (version, sha256 of the .deb, folders of photos inside it)
PACKAGES = {
    "lomiri-wallpapers-16.04": ("20.04.0-2", "a99ff6a3bfe451e4cc0682ecb3cc82e71740626d59e4845ae34a0a0e45421eab", ["usr/share/backgrounds"]),
    "lomiri-wallpapers-20.04": ("20.04.0-2", "d44e89b8473aafe64a5b678f014862dc31335aaaf18665c544d985d854f1a709", ["usr/share/backgrounds"]),
    "mate-backgrounds": ("1.26.0-1", "7bf4c2209f34b4f61ba6d24c8b58c28b361e82e4b943aae6d42c030169af9e04",
                         ["usr/share/backgrounds/mate/nature", "usr/share/backgrounds/mate/desktop"]),
    "ukui-wallpapers": ("20.04.3-1.1", "6d49be70152e6d603163458e177e501deb0be8f2916389ccbfcf59b0d7fc0262", ["usr/share/backgrounds"]),
}
MAX_SIDE = 960


def copyright_stanzas(text: str) -> list[dict[str, str]]:
    """The paragraphs of a machine-readable Debian copyright file, as field -> value."""
    stanzas = []
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, value = line.split(":", 1)
                fields[key] = value.strip()
        if "Files" in fields:
            stanzas.append(fields)
    return stanzas


def license_of(name: str, stanzas: list[dict[str, str]]) -> tuple[str, str]:
    """(copyright, license) of a file by its name: the last stanza whose Files match it (the
    packaging's own debian/* stanzas aside; paths there are the source tree's, so by name)."""
    found = ("", "")
    for s in stanzas:
        patterns = [p for p in s["Files"].split() if not p.startswith("debian/")]
        if any(fnmatch.fnmatch(name, Path(p).name) for p in patterns):
            found = (" ".join(s.get("Copyright", "").split()), s.get("License", "").splitlines()[0] if s.get("License") else "")
    return found


def fetch(out: Path) -> list[str]:
    """Download, check, unpack and scale the packages' photos into `out`; the LICENSES.md rows."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "licenses").mkdir(exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for package, (version, sha256, folders) in PACKAGES.items():
            subprocess.run(["apt-get", "download", f"{package}={version}"], cwd=tmp, check=True, capture_output=True)
            deb = next(Path(tmp).glob(f"{package}_*.deb"))
            digest = hashlib.sha256(deb.read_bytes()).hexdigest()
            if digest != sha256:
                sys.exit(f"{deb.name}: SHA-256 {digest}, expected {sha256}; the archive changed: check it and update PACKAGES")
            root = Path(tmp) / package
            subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
            copyright = (root / "usr/share/doc" / package / "copyright").read_text(errors="replace")
            (out / "licenses" / f"{package}.copyright").write_text(copyright)
            stanzas = copyright_stanzas(copyright)
            for folder in folders:
                for path in sorted((root / folder).iterdir()):
                    if path.suffix.lower() not in (".jpg", ".jpeg", ".png") or path.is_symlink():
                        continue
                    image = Image.open(path).convert("RGB")
                    image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
                    name = f"{package}__{path.stem}.jpg"
                    image.save(out / name, quality=90)
                    holder, license = license_of(path.name, stanzas)
                    rows.append(f"| {name} | {package} {version} | {holder} | {license} |")
    return rows


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__.strip().splitlines()[-1])
    out = Path(sys.argv[1])
    rows = fetch(out)
    header = [
        "# Training backgrounds for masklet-nano",
        "",
        "Fetched by `scripts/fetch_backgrounds.py` from Debian's archive (bookworm), scaled to at most",
        f"{MAX_SIDE} pixels. Each package's full copyright file is in `licenses/`.",
        "",
        "| file | package | copyright | license |",
        "| --- | --- | --- | --- |",
    ]
    (out / "LICENSES.md").write_text("\n".join(header + rows) + "\n")
    print(f"wrote {len(rows)} photos to {out}")


if __name__ == "__main__":
    main()
