"""Type aliases shared by the package's annotations: what "a path" and "a tensor" mean in a
signature. NumPy inputs are annotated ``np.ndarray``; shapes, dtypes and value ranges stay in
the docstrings.

TensorFlow and Keras ship no type stubs, so to a type checker ``tf.Tensor`` and
``keras.Model`` are ``Any``: :data:`TensorLike` documents intent more than it checks.
Importing this module imports neither (the package import stays light, see ``__init__``).
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Union

import numpy as np

if TYPE_CHECKING:
    import tensorflow as tf

#: A file or folder: ``str`` or ``pathlib.Path``.
PathLike = Union[str, "os.PathLike[str]"]

#: What the TensorFlow functions take: a ``tf.Tensor`` or a NumPy array (both convert).
TensorLike = Union["tf.Tensor", np.ndarray]
