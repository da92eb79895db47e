"""luna-admin: the administration service of a face-recognition platform."""

__version__ = "0.1.0"
