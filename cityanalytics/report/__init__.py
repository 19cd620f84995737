"""The report pipeline: run files -> papermill -> HTML + PDF + manifest -> ``outputs/``.

One module per concern, in the order a report passes through them:

- ``layout``: where reports go (``outputs/<period>/<run>[/<unit>]``) and safe names;
- ``params``: run files (``params/NAME.yaml``) checked against the notebook's parameters;
- ``execute``: papermill with a fresh kernel and a per-cell time limit;
- ``export``: HTML (code hidden, title page) and PDF (headless Chromium/Chrome/Edge);
- ``fonts``: a CJK font for figures and pages on Linux, Windows and macOS;
- ``manifest``: parameters, input hashes, versions, commit, times, status;
- ``publish``: staging directories published atomically;
- ``runner``: one report through all of the above;
- ``batch``: the schedule, planning, parallel runs and progress;
- ``index``: the period's index page;
- ``cli_run`` / ``cli_reports``: the ``run`` and ``reports`` subcommands.

Nothing here is imported by ``import cityanalytics.report``; import the module you need.
"""
