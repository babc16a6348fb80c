"""Catalog and behaviour imports: the H&M sample and a retailer's own CSV/parquet export."""
from .report import ImportReport, RowError

__all__ = ["ImportReport", "RowError"]
