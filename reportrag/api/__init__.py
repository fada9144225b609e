"""The edges of reportrag: the HTTP API (FastAPI) and the ``reportrag`` command line."""
