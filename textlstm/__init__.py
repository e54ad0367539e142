"""textlstm: a recurrent-network text toolkit on Keras 3 with the TensorFlow backend.

Importing the package is cheap: TensorFlow and Keras load only when a layer, model or
training command is used, so `textlstm --help` answers at once.
"""

from textlstm._backend import select_tensorflow_backend

__version__ = "0.1.0"

select_tensorflow_backend()
