"""OpenTelemetry spans for the stages of a request, off unless a tracer provider is set.

The API sets one (reportrag/api/tracing.py) when the standard ``OTEL_*`` variables configure an
exporter; until then :func:`span` is a no-op that costs one attribute read. Spans carry
counts, modes and operation names as attributes, never a query or a passage.

Searches run their Milvus calls on a thread pool: :func:`bind` carries the caller's span
into the pool's thread, so those calls appear under the request that made them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer, TracerProvider

T = TypeVar("T")

_tracer: Tracer | None = None


def set_provider(provider: TracerProvider | None) -> None:
    """Trace with ``provider`` from now on (None: stop tracing)."""
    global _tracer
    _tracer = None if provider is None else provider.get_tracer("reportrag")


def tracing() -> bool:
    return _tracer is not None


@contextmanager
def span(name: str, **attributes: str | int | float | bool) -> Iterator[Span | None]:
    """A child span of the current one (None, and nothing recorded, when tracing is off)."""
    tracer = _tracer
    if tracer is None:
        yield None
        return
    with tracer.start_as_current_span(name, attributes=attributes) as current:
        yield current


def set_attributes(current: Span | None, **attributes: str | int | float | bool) -> None:
    """Add attributes to a span from :func:`span` (nothing when tracing is off)."""
    if current is not None:
        current.set_attributes(attributes)


def bind(fn: Callable[..., T]) -> Callable[..., T]:
    """``fn`` run in the caller's trace context, for handing to another thread."""
    if _tracer is None:
        return fn
    from opentelemetry import context

    captured = context.get_current()

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> T:
        token = context.attach(captured)
        try:
            return fn(*args, **kwargs)
        finally:
            context.detach(token)

    return run
