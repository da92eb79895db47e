"""Measure the built-in backend: `python -m webapp.extraction.measure`.

Prints the numbers of docs/extraction.md: distances between descriptors of the
bundled photos (same person, same photo transformed, different people) and
images per second on one thread.
"""

from __future__ import annotations

import io
import itertools
import statistics
import time
from collections.abc import Callable
from functools import partial

from PIL import Image, ImageEnhance

from webapp.extraction import BASIC_ATTRIBUTES, FACE_DESCRIPTOR, descriptor_distance, get_backend
from webapp.extraction.samples import face_photos


def _jpeg(image: Image.Image, quality: int = 90) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


TRANSFORMS: dict[str, Callable[[Image.Image], bytes]] = {
    "crop (10% off three sides)": lambda im: _jpeg(
        im.crop((im.width // 10, im.height // 10, im.width - im.width // 10, im.height))
    ),
    "scale x0.5": lambda im: _jpeg(im.resize((im.width // 2, im.height // 2))),
    "scale x2": lambda im: _jpeg(im.resize((im.width * 2, im.height * 2))),
    "brightness x0.6": lambda im: _jpeg(ImageEnhance.Brightness(im).enhance(0.6)),
    "brightness x1.4": lambda im: _jpeg(ImageEnhance.Brightness(im).enhance(1.4)),
    "JPEG quality 25": lambda im: _jpeg(im, 25),
    "mirror": lambda im: _jpeg(im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)),
    "grey": lambda im: _jpeg(im.convert("L")),
}


def _row(label: str, distances: list[float]) -> str:
    return (
        f"| {label} | {len(distances)} | {min(distances):.3f} | "
        f"{statistics.median(distances):.3f} | {max(distances):.3f} |"
    )


def _rate(run: Callable[[], object], count: int, repeat: int = 5) -> float:
    best = min(_timed(run) for _ in range(repeat))
    return count / best


def _timed(run: Callable[[], object]) -> float:
    # CPU time of this process: extraction runs on the calling thread only, so
    # on an idle core this is the wall time, and other load on the machine
    # does not count.
    started = time.process_time()
    run()
    return time.process_time() - started


def main() -> None:
    backend = get_backend()
    started = time.perf_counter()
    backend.load()
    print(f"model load: {time.perf_counter() - started:.2f} s")
    photos = face_photos()
    keys = [(person, i) for person, images in photos.items() for i in range(len(images))]
    images = [photos[p][i] for p, i in keys]
    found = backend.extract(images, FACE_DESCRIPTOR)
    vectors = {key: r.descriptor for key, r in zip(keys, found, strict=True) if r.descriptor}
    assert len(vectors) == len(keys), [r.error for r in found]

    same: list[float] = []
    different: list[float] = []
    for (a, da), (b, db) in itertools.combinations(vectors.items(), 2):
        (same if a[0] == b[0] else different).append(descriptor_distance(da, db))
    names = [f"{person} {i + 1}" for person, i in keys]
    print("| | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for name, key in zip(names, keys, strict=True):
        row = [f"{descriptor_distance(vectors[key], vectors[other]):.3f}" for other in keys]
        print(f"| {name} | " + " | ".join(row) + " |")
    print()
    print("| pairs | count | min | median | max |")
    print("|---|---|---|---|---|")
    print(_row("same person, different photos", same))
    for label, transform in TRANSFORMS.items():
        variants = [transform(Image.open(io.BytesIO(data))) for data in images]
        results = backend.extract(variants, FACE_DESCRIPTOR)
        distances = [
            descriptor_distance(r.descriptor, vectors[key])
            for key, r in zip(keys, results, strict=True)
            if r.descriptor
        ]
        missed = sum(1 for r in results if not r.descriptor)
        print(_row(f"same photo, {label}" + (f" ({missed} missed)" if missed else ""), distances))
    print(_row("different people", different))

    grey = io.BytesIO()
    Image.new("RGB", (250, 250), (128, 128, 128)).save(grey, "PNG")
    aligned = [_jpeg(Image.open(io.BytesIO(d)).resize((250, 250))) for d in images]
    big = [_jpeg(Image.open(io.BytesIO(d)).resize((1600, 1600))) for d in images]
    cases = {
        "photos as bundled (218-360 px)": images,
        "250x250 face crops": aligned,
        "1600x1600 photos": big,
        "250x250 grey PNG (no face)": [grey.getvalue()] * len(images),
    }
    print("\n| images (one thread, per CPU second) | face_descriptor | basic_attributes |")
    print("|---|---|---|")
    for label, batch in cases.items():
        batch = batch * (40 // len(batch))
        descriptor_rate = _rate(partial(backend.extract, batch, FACE_DESCRIPTOR), len(batch))
        attribute_rate = _rate(partial(backend.extract, batch, BASIC_ATTRIBUTES), len(batch))
        print(f"| {label} | {descriptor_rate:.0f} | {attribute_rate:.0f} |")


if __name__ == "__main__":
    main()
