"""cityanalytics: a policy-analysis workbench for Chinese urban management (城市管理)."""

__version__ = "0.1.0"
