"""``cityanalytics lab``: JupyterLab on the project's notebooks, with the project kernel.

Registers the kernel "Python (cityanalytics)" (this Python, so the package and its
dependencies are importable) when it is missing, then runs JupyterLab with the project root
as its root and ``notebooks/`` opened. The notebooks change to the project root themselves
(``ca.notebook.setup()``), so their relative paths (``data/demo``) work as in a report run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

HELP = "Open JupyterLab on notebooks/ with the project kernel registered."
KERNEL_NAME = "cityanalytics"
KERNEL_DISPLAY_NAME = "Python (cityanalytics)"


def project_root() -> Path:
    return Path(__file__).resolve().parent.parent


def ensure_kernel() -> str:
    """Register the project kernel for this Python (in its prefix) unless it already is."""
    from jupyter_client.kernelspec import KernelSpecManager

    specs = KernelSpecManager().find_kernel_specs()
    spec = Path(specs[KERNEL_NAME]) / "kernel.json" if KERNEL_NAME in specs else None
    if spec is None or sys.executable not in spec.read_text(encoding="utf-8"):
        subprocess.run([sys.executable, "-m", "ipykernel", "install", "--sys-prefix", "--name", KERNEL_NAME,
                        "--display-name", KERNEL_DISPLAY_NAME], check=True, stdout=subprocess.DEVNULL)
    return KERNEL_NAME


def lab_command(*, port: int | None = None, token: str | None = None, browser: bool = True,
                extra: list[str] = ()) -> list[str]:
    root = project_root()
    cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={root}",
           "--ServerApp.default_url=/lab/tree/notebooks", "--MappingKernelManager.default_kernel_name=" + KERNEL_NAME]
    if port is not None:
        cmd.append(f"--ServerApp.port={port}")
    if token is not None:
        cmd.append(f"--IdentityProvider.token={token}")
    if not browser:
        cmd.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers often run as root; Jupyter refuses without this
        cmd.append("--ServerApp.allow_root=True")
    return cmd + list(extra)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, help="port to listen on (default: JupyterLab's, 8888 or the next free)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser (e.g. on a server)")
    parser.add_argument("extra", nargs=argparse.REMAINDER, help="further JupyterLab options, after --")


def run(args: argparse.Namespace) -> int:
    ensure_kernel()
    extra = [a for a in args.extra if a != "--"]
    cmd = lab_command(port=args.port, browser=not args.no_browser, extra=extra)
    os.chdir(project_root())
    return subprocess.call(cmd)
