"""Leak-safe labelled datasets (issue 8): point-in-time features, stored predictions and kernel labels
exported to Parquet in time chunks, with the dataset contract's metadata, and the label study."""

from cqt.export.dataset import ExportResult, export_dataset, plan_export
from cqt.export.spec import ExportError, ExportParams

__all__ = ["ExportError", "ExportParams", "ExportResult", "export_dataset", "plan_export"]
