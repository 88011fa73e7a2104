"""TensorFlow 2 building blocks shared by the TF systems (ENAS, NAO/cnn, NAO-WS/cnn).

Importing this package imports TensorFlow without its C++ start-up notices (see startup.py)."""
from .startup import import_tensorflow

import_tensorflow()
