"""Parquet master data ingestion: schemas, Arrow validation over whole
columns, and the columnar delta against the previous snapshot (DESIGN.md
section 5). Pure Arrow; the service layer (common/service/handlers/datasets.py)
does the writes."""
