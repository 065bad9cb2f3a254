"""The query library (named, typed Cypher files in `queries/`), the block-list export and safe CSV/JSON cells."""
