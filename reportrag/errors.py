"""One exception tree for reportrag, translated to HTTP codes / CLI exit codes at the edges.

ReportragError
├── ConfigError              a setting is missing or wrong                 (CLI 2, HTTP 500)
├── InputError               caller-supplied input is invalid              (CLI 2, HTTP 4xx)
│   ├── DocumentError        a corpus file cannot be read/decoded/used
│   │   └── NoTextLayerError  a PDF without text (a scan): no OCR           (HTTP 422)
│   ├── UnsupportedTypeError  a file type reportrag does not read          (HTTP 415)
│   ├── TooLargeError        an upload over the size limit                 (HTTP 413)
│   ├── ManifestError        the corpus manifest is malformed
│   └── FilterError          a search filter is unknown or has a bad value
├── ModelError               the embedding model cannot be found/built/used  (CLI 3)
│   ├── ModelNotFoundError
│   ├── ModelCorruptError    a cached model failed verification
│   └── TokenLimitError      an input exceeds the model's token limit
├── StoreError               Milvus said no                                (CLI 4)
│   ├── StoreUnavailableError  Milvus cannot be reached; safe to retry     (HTTP 503)
│   ├── CollectionMissingError  nothing ingested yet: no collection      (HTTP 503 not_ready)
│   ├── FingerprintMismatchError  the index was built with another model   (HTTP 409)
│   │   └── OutdatedCollectionError  older schema / other passage precision: rebuild (409)
│   └── CapabilityError      the store lacks a feature (e.g. BM25)         (HTTP 400)
├── IngestIncompleteError    an ingestion failed after writing: re-run it  (CLI 4, HTTP 500)
├── NotFoundError            a document / chunk id does not exist          (HTTP 404)
├── QueueFullError           the ingestion job queue is full; retry later   (HTTP 429)
└── ConflictError            e.g. an ingestion already running             (HTTP 409)
    └── CancelledError       the ingestion was cancelled on request        (HTTP 409)
"""

from __future__ import annotations

from typing import Any


class ReportragError(Exception):
    """Base class of every error reportrag raises on purpose."""

    code = "error"
    exit_code = 1

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class ConfigError(ReportragError):
    code = "config_error"
    exit_code = 2


class InputError(ReportragError):
    code = "invalid_input"
    exit_code = 2


class DocumentError(InputError):
    code = "bad_document"


class NoTextLayerError(DocumentError):
    """A PDF whose pages carry no text (a scan): there is nothing to index without OCR."""

    code = "no_text_layer"


class UnsupportedTypeError(InputError):
    """A file of a type reportrag does not read (HTTP 415)."""

    code = "unsupported_media_type"


class TooLargeError(InputError):
    """An upload over the size limit (HTTP 413)."""

    code = "too_large"


class QueueFullError(ReportragError):
    """The ingestion job queue is full (HTTP 429 with Retry-After)."""

    code = "queue_full"
    exit_code = 6


class ManifestError(InputError):
    code = "bad_manifest"


class FilterError(InputError):
    code = "bad_filter"


class ModelError(ReportragError):
    code = "model_error"
    exit_code = 3


class ModelNotFoundError(ModelError):
    code = "model_not_found"


class ModelCorruptError(ModelError):
    code = "model_corrupt"


class TokenLimitError(ModelError, InputError):
    code = "token_limit"


class StoreError(ReportragError):
    code = "store_error"
    exit_code = 4


class StoreUnavailableError(StoreError):
    """Milvus did not answer; the operation did not happen and is safe to retry."""

    code = "store_unavailable"
    retryable = True


class CollectionMissingError(StoreError):
    """The collection does not exist yet: an ingestion creates it (retrying alone does not)."""

    code = "not_ready"


class FingerprintMismatchError(StoreError):
    code = "fingerprint_mismatch"


class OutdatedCollectionError(FingerprintMismatchError):
    code = "collection_outdated"


class CapabilityError(StoreError):
    code = "unsupported"


class IngestIncompleteError(ReportragError):
    """An ingestion failed after it had written: not "nothing happened" (that is a 503).

    What it finished is stored and searchable; re-running it converges (it is idempotent).
    """

    code = "ingest_incomplete"
    exit_code = 4


class NotFoundError(ReportragError):
    code = "not_found"
    exit_code = 5


class ConflictError(ReportragError):
    code = "conflict"
    exit_code = 6


class CancelledError(ConflictError):
    """An ingestion stopped on request; what it finished stays, the rest is not visible."""

    code = "cancelled"
