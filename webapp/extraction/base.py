"""The interface every extraction backend implements.

A backend turns encoded sample images (the bytes of `sample.image`: JPEG, PNG,
...) into what a face lacks: a descriptor (bytes for `descriptor.vector`,
written with the backend's `descriptor_version`) or basic attributes (JSON for
`face_attribute.basic_attributes`).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

FACE_DESCRIPTOR = "face_descriptor"
BASIC_ATTRIBUTES = "basic_attributes"
TARGETS = frozenset({FACE_DESCRIPTOR, BASIC_ATTRIBUTES})
"""Every target a backend may declare."""


class UnsupportedTarget(ValueError):
    """The backend does not produce this target (the API answers 400)."""


class UnknownBackend(LookupError):
    """No backend is registered under this name."""


@dataclass(frozen=True)
class Extracted:
    """What one image gave: exactly one of the three fields is set."""

    descriptor: bytes | None = None
    """The descriptor, serialized as the backend documents (the built-in one:
    128 float32 little-endian, 512 bytes)."""
    basic_attributes: dict[str, Any] | None = None
    """E.g. {"age": 47, "gender": 1} (gender: 0 female, 1 male)."""
    error: str | None = None
    """Why nothing was extracted, e.g. "no face found in the sample"."""


class ExtractionBackend(abc.ABC):
    name: ClassVar[str]
    targets: ClassVar[frozenset[str]]
    """Subset of TARGETS."""
    descriptor_version: ClassVar[int]
    """The version it writes for face_descriptor."""

    @abc.abstractmethod
    def extract(self, images: Sequence[bytes], target: str) -> list[Extracted]:
        """CPU-bound and synchronous (the caller runs it in a thread); one result per
        image, same order; never raises for a bad image (returns Extracted(error=...)).

        Raises UnsupportedTarget for a target outside `targets`.
        """

    def load(self) -> None:
        """Load what extract() needs now rather than on its first call (a worker
        may call it at start-up; the default loads nothing)."""
        return None

    def check_target(self, target: str) -> None:
        """Raise UnsupportedTarget unless this backend produces `target`."""
        if target not in self.targets:
            raise UnsupportedTarget(
                f"the extraction backend '{self.name}' cannot extract '{target}'; "
                f"it extracts: {', '.join(sorted(self.targets)) or 'nothing'}"
            )
