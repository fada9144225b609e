"""reportrag shared core: types, settings, errors, the embedder and the Milvus store.

The core imports nothing else of ours; ``ingest`` (write path) and ``search`` (read path)
depend on it, ``api`` (HTTP + CLI) sits on top. Nothing heavy happens at import time.
"""

from __future__ import annotations

__version__ = "0.1.0"
