"""Typed errors. Every message says what was wrong *and* what to do about it.

The library never answers bad input with a bare ``ValueError`` or a crash deep inside numpy:
callers (CLI, ROS node) catch :class:`SemcorrError` and report ``str(err)`` as is.
"""

from __future__ import annotations


class SemcorrError(Exception):
    """Base class of all errors raised on purpose by semcorr."""


class InputError(SemcorrError, ValueError):
    """Input data is malformed (wrong dtype, shape, units, values)."""


class DepthEncodingError(InputError):
    """Depth image has a dtype/encoding we cannot interpret (expect uint16 mm or float32 m)."""


class DepthScaleError(InputError):
    """Depth values are implausible for the declared unit (e.g. millimetres read as metres)."""


class InvalidDepthError(InputError):
    """Depth contains no usable (finite, positive) values where they are needed."""


class IntrinsicsError(InputError):
    """Camera intrinsics are missing, zero, non-finite or inconsistent with the image."""


class ImageSizeMismatchError(InputError):
    """Colour, depth, mask or intrinsics disagree about the image size."""


class EmptyMaskError(InputError):
    """An instance mask selects no pixel."""


class UnknownCategoryError(SemcorrError, KeyError):
    """A category name is not among the known categories."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it readable
        return str(self.args[0]) if self.args else ""


class MeshLoadError(SemcorrError, OSError):
    """A mesh or keypoint annotation file cannot be read or is inconsistent."""


class DatasetFormatError(SemcorrError, OSError):
    """An on-disk dataset is missing files or has an incompatible format version."""


class ModelFileError(SemcorrError, OSError):
    """A model bundle is missing, corrupt, of another format version or of another category."""


class BackendError(SemcorrError, RuntimeError):
    """An inference backend is unknown, not installed here, or cannot run the model."""


class BagError(SemcorrError, OSError):
    """A bag is missing, corrupt, or lacks the topics / message types it is read for."""
