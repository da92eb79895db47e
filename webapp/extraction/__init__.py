"""Extraction backends: compute face descriptors and basic attributes from samples.

    from webapp.extraction import get_backend
    backend = get_backend()               # the built-in one (cached per process)
    results = backend.extract(images, "face_descriptor")   # in a thread: CPU-bound

See docs/extraction.md for what the built-in backend computes and how well.
"""

from __future__ import annotations

import threading

from webapp.extraction.base import (
    BASIC_ATTRIBUTES,
    FACE_DESCRIPTOR,
    TARGETS,
    Extracted,
    ExtractionBackend,
    UnknownBackend,
    UnsupportedTarget,
)
from webapp.extraction.dlib_resnet import DlibResnetBackend, descriptor_distance

__all__ = [
    "BASIC_ATTRIBUTES",
    "DEFAULT_BACKEND",
    "FACE_DESCRIPTOR",
    "TARGETS",
    "DlibResnetBackend",
    "Extracted",
    "ExtractionBackend",
    "UnknownBackend",
    "UnsupportedTarget",
    "available_backends",
    "descriptor_distance",
    "get_backend",
]

DEFAULT_BACKEND = DlibResnetBackend.name

_BACKENDS: dict[str, type[ExtractionBackend]] = {DlibResnetBackend.name: DlibResnetBackend}
_instances: dict[str, ExtractionBackend] = {}
_lock = threading.Lock()


def available_backends() -> dict[str, type[ExtractionBackend]]:
    """Backend classes by name."""
    return dict(_BACKENDS)


def get_backend(name: str | None = None) -> ExtractionBackend:
    """The backend of that name (default: the built-in one), one instance per
    process. Cheap: the models load on the first extract() (or backend.load()).
    Raises UnknownBackend for a name that is not registered."""
    name = name or DEFAULT_BACKEND
    backend_class = _BACKENDS.get(name)
    if backend_class is None:
        raise UnknownBackend(
            f"unknown extraction backend {name!r}; available: {', '.join(sorted(_BACKENDS))}"
        )
    with _lock:
        if name not in _instances:
            _instances[name] = backend_class()
        return _instances[name]
