"""Reading and writing: safe files (safetensors + JSON, no pickle) and exact weight exchange with PyTorch,
Keras and ONNX."""

from .safefile import FileFormatError

__all__ = ["FileFormatError"]

# Exchange with other frameworks (torch, keras, onnx themselves are imported only when a function needs them).
from ._optional import MissingDependencyError
from .keras_io import from_keras, from_keras_weights, to_keras, to_keras_layers, to_keras_weights
from .onnx_export import check_onnx, register_onnx_exporter, run_onnx, to_onnx
from .torch_io import from_torch, to_torch, to_torch_state_dict

__all__ += [
    "MissingDependencyError", "from_torch", "to_torch", "to_torch_state_dict",
    "to_keras_weights", "from_keras_weights", "to_keras", "to_keras_layers", "from_keras",
    "to_onnx", "register_onnx_exporter", "run_onnx", "check_onnx",
]
