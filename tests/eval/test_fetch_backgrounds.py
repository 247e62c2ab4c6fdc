"""scripts/fetch_backgrounds.py: every fetched photo's license comes from its package's
copyright file, the stanza naming that file rather than the packaging's own."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "fetch_backgrounds.py"

COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: some-wallpapers

Files: *
Copyright: 2010-2016 community contributors
License: CC-BY-SA-3.0

Files: 16.04/aitzgorri_by_Aitzol_Berasategi.jpg
       16.04/life_by_Aitzol_Berasategi.jpg
Copyright: Aitzol Berasategi, 2018
License: CC-BY-4.0

Files: debian/*
Copyright: 2022-2023, A Packager <packager@example.org>
License: Expat

License: CC-BY-4.0
 Attribution 4.0 International
"""


def _script():
    spec = importlib.util.spec_from_file_location("fetch_backgrounds", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_each_photo_gets_the_license_of_its_own_stanza() -> None:
    script = _script()
    stanzas = script.copyright_stanzas(COPYRIGHT)
    assert [s["License"].splitlines()[0] for s in stanzas] == ["CC-BY-SA-3.0", "CC-BY-4.0", "Expat"]
    assert script.license_of("life_by_Aitzol_Berasategi.jpg", stanzas) == ("Aitzol Berasategi, 2018", "CC-BY-4.0")
    assert script.license_of("warty-final.png", stanzas) == ("2010-2016 community contributors", "CC-BY-SA-3.0")


def test_packages_are_pinned() -> None:
    for package, (version, sha256, folders) in _script().PACKAGES.items():
        assert version[0].isdigit() and len(sha256) == 64 and folders, package
