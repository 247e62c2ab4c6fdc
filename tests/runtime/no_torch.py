"""Run masklet's command line where torch cannot be imported, as after installing the
runtime extra alone: `python no_torch.py track ...`."""

import sys


class NoTorch:
    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.split(".")[0] == "torch":
            raise ImportError("torch is not installed here")


sys.meta_path.insert(0, NoTorch())

from masklet.cli import main  # noqa: E402

main(sys.argv[1:], prog_name="masklet")
