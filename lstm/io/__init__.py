"""Reading and writing: safe files (safetensors + JSON, no pickle), and later conversion to other frameworks."""

from .safefile import FileFormatError

__all__ = ["FileFormatError"]
