"""Real face photos that ship with the service, for tests, seeding and benchmarks.

Offline, from package registries only. No package on PyPI, npm or Debian that
we could find installs a labelled set with several people and several photos
each, so these are crops of the few real photos that registry packages carry
(the sources and the crops are listed in docs/extraction.md):

- barack_obama_1..3, joe_biden_1: the test images of the `face_recognition`
  1.3.0 sdist on PyPI (tests/test_images/obama.jpg, obama2.jpg, obama3.jpg,
  biden.jpg; official White House photos, public domain);
- eileen_collins_1: `astronaut.png` of the scikit-image 0.26.0 wheel (NASA,
  public domain).

Barack Obama has three different photos (different days, light and
expressions); the others have one each.
"""

from __future__ import annotations

import functools
from pathlib import Path

PHOTOS_DIR = Path(__file__).resolve().parent / "photos"


@functools.cache
def _photos() -> dict[str, tuple[bytes, ...]]:
    people: dict[str, list[bytes]] = {}
    for path in sorted(PHOTOS_DIR.glob("*.jpg")):
        person = path.stem.rsplit("_", 1)[0]
        people.setdefault(person, []).append(path.read_bytes())
    return {person: tuple(photos) for person, photos in people.items()}


def face_photos() -> dict[str, list[bytes]]:
    """Person -> encoded JPEG photos (one face each, head and shoulders, 218 to
    360 px)."""
    return {person: list(photos) for person, photos in _photos().items()}
