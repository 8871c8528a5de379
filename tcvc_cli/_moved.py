"""Old import paths of modules that moved into the part packages, kept for anyone who imports
`tcvc_cli` as a library: `import tcvc_cli.propagate` gives the very module object that
`tcvc_cli.motion.propagate` is, so attributes read or patched through either name agree.

Add a line to MOVED when a module moves; docs/architecture.md lists the table.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

MOVED = {
    "tcvc_cli.images": "tcvc_cli.media.images",
    "tcvc_cli.sequence": "tcvc_cli.media.sequence",
    "tcvc_cli.editorial": "tcvc_cli.media.editorial",
    "tcvc_cli.propagate": "tcvc_cli.motion.propagate",
    "tcvc_cli.regions": "tcvc_cli.motion.regions",
    "tcvc_cli.shots": "tcvc_cli.motion.shots",
    "tcvc_cli.config": "tcvc_cli.model.config",
    "tcvc_cli.networks": "tcvc_cli.model.networks",
    "tcvc_cli.losses": "tcvc_cli.model.losses",
    "tcvc_cli.checkpoint": "tcvc_cli.model.checkpoint",
    "tcvc_cli.data": "tcvc_cli.model.data",
    "tcvc_cli.layers": "tcvc_cli.colorize.layers",
}


class _Alias(importlib.abc.Loader):
    def __init__(self, target: str):
        self.target = target

    def create_module(self, spec):
        self.module = importlib.import_module(self.target)
        self.own_spec = self.module.__spec__
        return self.module

    def exec_module(self, module) -> None:
        module.__spec__ = self.own_spec  # importlib stamped the old name's spec on it: the module keeps its own


class _MovedFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name not in MOVED:
            return None
        return importlib.util.spec_from_loader(name, _Alias(MOVED[name]))


def install() -> None:
    if not any(isinstance(finder, _MovedFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _MovedFinder())
