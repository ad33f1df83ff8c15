"""Headless entry: stylize a capture folder and save the result as a .blend.

    blender --background --python blender_addon/headless.py -- \\
        --capture DIR --style IMG [--style IMG ...] [--prompt TEXT] --out result.blend \\
        [--glb out.glb] [--clip-weights DIR]
    python blender_addon/headless.py --capture DIR --style IMG --out result.blend

Works from the repository, from the installed extension's folder, and with Blender as a
Python module. The work itself is in batch.py; this file only makes the package importable
when run as a script.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


def _batch_main():
    if __package__:
        from .batch import main

        return main
    package_dir = Path(__file__).resolve().parent
    sys.path.insert(0, str(package_dir.parent))
    return importlib.import_module(f"{package_dir.name}.batch").main


if __name__ == "__main__":
    argv = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else sys.argv[1:]
    sys.exit(_batch_main()(argv))
