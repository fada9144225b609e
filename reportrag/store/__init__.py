"""The Milvus store: the only module that knows Milvus field names and filter syntax."""

from __future__ import annotations

from reportrag.store.capabilities import IndexConfig, StoreCapabilities
from reportrag.store.milvus import MilvusStore

__all__ = ["IndexConfig", "MilvusStore", "StoreCapabilities"]
