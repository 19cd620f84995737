"""Reports on a workspace: where ``cityanalytics reports --workspace DIR`` finds its runs.

The schedule is ``DIR/params/schedule.yaml``; its run files read relative data paths against
DIR (``cityanalytics.report.params.workspace_of``); the notebooks are the project's; reports
go to ``DIR/outputs`` unless ``--outputs`` says otherwise.
"""

from __future__ import annotations

from pathlib import Path


def workspace_batch(workspace: Path, outputs: Path | None) -> tuple[Path, Path, Path]:
    """``(schedule, project root, outputs)`` for a batch on ``workspace``; ValueError when it cannot run."""
    from cityanalytics.report import layout
    from cityanalytics.report.params import PROJECT

    root = Path(workspace).resolve()
    if not root.is_dir():
        raise ValueError(f"--workspace {workspace}: not a folder (make one with `cityanalytics init {workspace}`)")
    schedule = root / "params" / "schedule.yaml"
    if not schedule.is_file():
        raise ValueError(f"--workspace {workspace}: no params/schedule.yaml in it (`cityanalytics init` writes one)")
    if not (root / "sources.yaml").is_file():
        raise ValueError(f"--workspace {workspace}: no sources.yaml (the recipe) in it")
    project = PROJECT if (PROJECT / "notebooks").is_dir() else layout.project_root(Path.cwd() / "x")
    return schedule, project, Path(outputs) if outputs else root / "outputs"


def workspace_run(run_file: Path, outputs: Path | None) -> tuple[Path, Path] | None:
    """``(project root, outputs)`` for one run file kept in a workspace's params/; None otherwise."""
    from cityanalytics.report.params import PROJECT, workspace_of

    root = workspace_of(run_file)
    if root is None or not (PROJECT / "notebooks").is_dir():
        return None
    return PROJECT, Path(outputs) if outputs else root / "outputs"
