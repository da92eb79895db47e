"""The built-in extraction backend on real face photos (webapp/extraction/photos)."""

from __future__ import annotations

import io
import itertools
import struct
import threading
import zlib

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from webapp.extraction import (
    BASIC_ATTRIBUTES,
    FACE_DESCRIPTOR,
    TARGETS,
    DlibResnetBackend,
    UnknownBackend,
    UnsupportedTarget,
    available_backends,
    descriptor_distance,
    get_backend,
)
from webapp.extraction.dlib_net import ModelFormatError, read_network
from webapp.extraction.dlib_resnet import (
    DESCRIPTOR_BYTES,
    LANDMARKS_FILE,
    MODEL_FILE,
    decode_image,
    models_dir,
)
from webapp.extraction.samples import face_photos

LUNA_VERSIONS = {56, 57, 58, 59, 60, 62, 64, 65}


def encode(image: Image.Image, fmt: str = "JPEG", **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def grey_png(size: int = 250) -> bytes:
    return encode(Image.new("RGB", (size, size), (128, 128, 128)), "PNG")


def huge_png_header(width: int, height: int) -> bytes:
    """A small PNG file that claims to be huge (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 1000)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels)


@pytest.fixture(scope="module")
def backend() -> DlibResnetBackend:
    backend = get_backend()
    assert isinstance(backend, DlibResnetBackend)
    backend.load()
    return backend


@pytest.fixture(scope="module")
def photos() -> dict[str, list[bytes]]:
    return face_photos()


@pytest.fixture(scope="module")
def descriptors(backend, photos) -> dict[tuple[str, int], bytes]:
    keys = [(person, i) for person, images in photos.items() for i in range(len(images))]
    results = backend.extract([photos[p][i] for p, i in keys], FACE_DESCRIPTOR)
    assert [r.error for r in results] == [None] * len(keys)
    return {
        key: r.descriptor for key, r in zip(keys, results, strict=True) if r.descriptor is not None
    }


def test_photos_are_real_and_several(photos):
    assert len(photos) >= 3
    assert len(photos["barack_obama"]) >= 3
    for images in photos.values():
        for data in images:
            assert Image.open(io.BytesIO(data)).format == "JPEG"


def test_backend_declaration(backend):
    assert backend.name in available_backends()
    assert backend.targets <= TARGETS
    assert backend.targets == {FACE_DESCRIPTOR, BASIC_ATTRIBUTES}
    assert backend.descriptor_version not in LUNA_VERSIONS
    assert get_backend() is get_backend(None) is get_backend(backend.name) is backend
    with pytest.raises(UnknownBackend, match="dlib_resnet_v1"):
        get_backend("no-such-backend")


def test_descriptor_format(descriptors):
    for data in descriptors.values():
        assert isinstance(data, bytes) and len(data) == DESCRIPTOR_BYTES == 512
        vector = np.frombuffer(data, "<f4")
        assert vector.shape == (128,) and np.isfinite(vector).all()
        assert 0.5 < np.linalg.norm(vector) < 2.0


def test_same_person_is_close(backend, descriptors):
    obama = [d for (person, _), d in descriptors.items() if person == "barack_obama"]
    for a, b in itertools.combinations(obama, 2):
        assert descriptor_distance(a, b) < backend.threshold


def test_different_people_are_far(backend, descriptors):
    for (a, da), (b, db) in itertools.combinations(descriptors.items(), 2):
        if a[0] != b[0]:
            assert descriptor_distance(da, db) > backend.threshold, (a, b)


def test_same_photo_transformed_is_close(backend, photos, descriptors):
    original = photos["joe_biden"][0]
    image = Image.open(io.BytesIO(original))
    w, h = image.size
    variants = [
        encode(image.crop((w // 10, h // 10, w - w // 10, h - h // 20))),
        encode(image.resize((w // 2, h // 2))),
        encode(image.resize((w * 2, h * 2))),
        encode(ImageEnhance.Brightness(image).enhance(0.6)),
        encode(ImageEnhance.Brightness(image).enhance(1.4)),
        encode(image, quality=25),
        encode(image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)),
        encode(image, "PNG"),
        encode(image.convert("L"), "PNG"),
    ]
    reference = descriptors[("joe_biden", 0)]
    for i, result in enumerate(backend.extract(variants, FACE_DESCRIPTOR)):
        assert result.descriptor is not None, (i, result.error)
        assert descriptor_distance(result.descriptor, reference) < backend.threshold / 2, i


def test_matches_dlib_itself(backend, photos, descriptors):
    """The ONNX graph built from dlib's model file gives dlib's own descriptors."""
    import dlib

    from webapp.extraction.dlib_resnet import _face, _loaded

    model = dlib.face_recognition_model_v1(str(models_dir() / MODEL_FILE))
    for (person, i), descriptor in descriptors.items():
        image = decode_image(photos[person][i])
        shape = _face(_loaded(), image)
        expected = np.array(model.compute_face_descriptor(image, shape), np.float32)
        got = np.frombuffer(descriptor, "<f4")
        assert np.abs(got - expected).max() < 1e-5


def test_bad_images_give_errors_in_input_order(backend, photos, descriptors):
    obama, biden = photos["barack_obama"][0], photos["joe_biden"][0]
    batch = [
        b"not an image",
        obama,
        b"",
        grey_png(),
        biden,
        obama[: len(obama) // 2],  # truncated JPEG
        encode(Image.new("RGB", (40, 30), "white"), "GIF"),
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 100,
        huge_png_header(9_000, 9_000),
        huge_png_header(20_000, 20_000),
    ]
    results = backend.extract(batch, FACE_DESCRIPTOR)
    assert len(results) == len(batch)
    errors = [r.error for r in results]
    assert errors[0] and errors[2] and errors[5] and errors[7]
    assert errors[3] == errors[6] == "no face found in the sample"
    assert errors[8] == "the sample is too large (9000x9000 pixels)"
    assert errors[9] == "the sample is too large (over 80000000 pixels)"
    assert errors[1] is None and errors[4] is None
    for i in (0, 2, 3, 5, 6, 7, 8, 9):
        assert results[i].descriptor is None and results[i].basic_attributes is None
    d_obama, d_biden = results[1].descriptor, results[4].descriptor
    assert d_obama is not None and d_biden is not None
    assert descriptor_distance(d_obama, descriptors[("barack_obama", 0)]) < 1e-4
    assert descriptor_distance(d_biden, descriptors[("joe_biden", 0)]) < 1e-4
    assert backend.extract([], FACE_DESCRIPTOR) == []


def test_the_largest_face_wins(backend, photos, descriptors):
    big = Image.open(io.BytesIO(photos["barack_obama"][1]))
    small = Image.open(io.BytesIO(photos["joe_biden"][0])).resize((240, 240))
    canvas = Image.new("RGB", (900, 500), (200, 200, 200))
    canvas.paste(small, (20, 240))
    canvas.paste(big, (500, 60))
    (result,) = backend.extract([encode(canvas)], FACE_DESCRIPTOR)
    assert result.descriptor is not None
    to_obama = descriptor_distance(result.descriptor, descriptors[("barack_obama", 1)])
    assert to_obama < 0.15


def test_exif_orientation_is_applied(backend, photos, descriptors):
    upright = Image.open(io.BytesIO(photos["eileen_collins"][0]))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    stored = encode(upright.transpose(Image.Transpose.ROTATE_90), exif=exif.tobytes())
    (result,) = backend.extract([stored], FACE_DESCRIPTOR)
    assert result.descriptor is not None, result.error
    assert descriptor_distance(result.descriptor, descriptors[("eileen_collins", 0)]) < 0.2


def test_basic_attributes(backend, photos):
    batch = [photos["barack_obama"][0], grey_png(), photos["eileen_collins"][0], b"junk"]
    obama, grey, collins, junk = backend.extract(batch, BASIC_ATTRIBUTES)
    assert obama.basic_attributes is not None and collins.basic_attributes is not None
    assert set(obama.basic_attributes) == {"age", "gender"}
    assert obama.basic_attributes["gender"] == 1 and collins.basic_attributes["gender"] == 0
    assert 30 <= obama.basic_attributes["age"] <= 70
    assert obama.descriptor is None
    assert grey.error == "no face found in the sample" and grey.basic_attributes is None
    assert junk.error and junk.basic_attributes is None


def test_unsupported_target(backend, photos):
    with pytest.raises(UnsupportedTarget, match="face_landmarks"):
        backend.extract([photos["joe_biden"][0]], "face_landmarks")
    with pytest.raises(UnsupportedTarget):
        backend.extract([], "")


def test_concurrent_calls_give_the_same_results(backend, photos, descriptors):
    keys = list(descriptors)
    batch = [photos[p][i] for p, i in keys]
    outputs: list[list[bytes | None]] = []
    lock = threading.Lock()

    def run() -> None:
        results = backend.extract(batch, FACE_DESCRIPTOR)
        with lock:
            outputs.append([r.descriptor for r in results])

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outputs) == 3
    for output in outputs:
        for key, got in zip(keys, output, strict=True):
            assert got is not None and descriptor_distance(got, descriptors[key]) < 1e-4


def test_pooled_detectors_are_equal_copies(backend, photos):
    from webapp.extraction.dlib_resnet import _loaded

    models = _loaded()
    image = decode_image(photos["barack_obama"][1])
    with models.detector() as first, models.detector() as second:
        assert first is not second
        boxes = [[str(box) for box in detector(image, 0)] for detector in (first, second)]
    assert boxes[0] == boxes[1] and len(boxes[0]) >= 1


def test_descriptor_distance_checks_sizes(descriptors):
    some = next(iter(descriptors.values()))
    assert descriptor_distance(some, some) == 0.0
    with pytest.raises(ValueError, match="512"):
        descriptor_distance(some, some[:-4])


def test_model_reader_refuses_other_files():
    with pytest.raises(ModelFormatError):
        read_network(b"\x01\x01garbage")
    data = (models_dir() / MODEL_FILE).read_bytes()
    for broken in (b"", data[:1000], data[:-10], data + b"\x00"):
        with pytest.raises(ModelFormatError):
            read_network(broken)
    with pytest.raises(ModelFormatError):
        read_network((models_dir() / LANDMARKS_FILE).read_bytes())
