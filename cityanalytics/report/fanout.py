"""Fan-out batches: one folder per batch where the units' kernels keep what they share.

A run file with ``for_each`` makes one report per unit; most of what each report computes
is the same for all of them (for the comparison report: the city-wide IndicatorFrame, the
level, the period, the targets). The planner gives the batch a folder under the run's output
folder, named by a hash of the input files' SHA-256 and the parameters, and empties the
run's shared folders first, so nothing computed for other data or another batch is reused.
The runner passes the folder to each unit's kernel (``cityanalytics.compare.shared.ENV``);
the analysis code stores and loads its bundles there (``cityanalytics.compare.shared``).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
from pathlib import Path

from cityanalytics.report import layout

SHARED_DIR = ".shared"  # a dot folder: the index and the unit listing skip it


def prepare_shared(outputs: Path, period: str, run: str, inputs: list[dict], parameters: dict) -> str:
    """The batch's shared folder (not created: the first kernel that stores a bundle does);
    earlier batches' shared folders of this run are removed."""
    root = layout.report_dir(outputs, period, run) / SHARED_DIR
    shutil.rmtree(root, ignore_errors=True)
    text = json.dumps({"inputs": [[i.get("path"), i.get("sha256")] for i in inputs], "parameters": parameters},
                      sort_keys=True, default=str, ensure_ascii=False)
    return str(root / hashlib.sha256(text.encode("utf-8")).hexdigest()[:16])


def batch_key() -> str:
    """A fresh secret per batch. Bundles are pickles, and unpickling runs code: a kernel loads
    only a bundle signed with its batch's key, so a file planted in the outputs folder (which
    others may be able to write) is never unpickled."""
    return secrets.token_hex(32)


def kernel_env(job) -> dict[str, str]:
    """The variables naming the job's shared folder and its batch's key, for its kernel's environment."""
    from cityanalytics.compare.shared import ENV, KEY_ENV

    if not getattr(job, "shared", None) or not getattr(job, "shared_key", ""):
        return {}
    return {ENV: str(job.shared), KEY_ENV: job.shared_key}
