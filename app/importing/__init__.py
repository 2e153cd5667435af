"""Import pipeline: CSV/XLSX files of any shape into clean, deduplicated customers."""
