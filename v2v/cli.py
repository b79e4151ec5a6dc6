"""Console-script entry point (`v2v ...`), the same as `python -m v2v ...`.

The entry point is the one place that knows the packages around v2v: it hands the command line to
`capture.cli` and first loads the plugins that are installed (today plugins/obs, which registers
`--output obs` with capture's sink registry), so that neither v2v nor capture imports a plugin.
"""

import importlib.util
import sys


def load_plugins() -> None:
    """Register the sinks of the installed plugins (plugins.obs: `--output obs`)."""
    if importlib.util.find_spec("plugins") is not None and importlib.util.find_spec("plugins.obs") is not None:
        from plugins.obs import register

        register()


def main() -> int:
    from capture.cli import main as capture_main

    load_plugins()
    return capture_main(sys.argv[1:])
