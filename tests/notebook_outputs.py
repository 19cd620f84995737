"""Run an analysis notebook under papermill, as the scheduled reports do, and collect its outputs."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def papermill_outputs(notebook: Path, out: Path, parameters: dict) -> tuple[str, str, list]:
    """Execute ``notebook`` into ``out``; return (markdown, html, images) after checking no cell failed."""
    import os

    import papermill as pm

    os.environ["CITYANALYTICS_REPORT"] = "1"  # as the report runner sets it: the static default view
    pm.execute_notebook(str(notebook), str(out), kernel_name="cityanalytics", cwd=str(ROOT), progress_bar=False,
                        parameters=parameters)
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    # the static default view: no widget for a report to miss (no "Error displaying widget")
    assert not [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert "widgets" not in nb.metadata
    streams = json.dumps([o for o in outputs if o.output_type == "stream"], ensure_ascii=False)
    assert "Traceback" not in streams
    markdown = "\n".join(o.data["text/markdown"] for o in outputs if "text/markdown" in o.get("data", {}))
    html = "\n".join(o.data["text/html"] for o in outputs if "text/html" in o.get("data", {}))
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    return markdown, html, images
