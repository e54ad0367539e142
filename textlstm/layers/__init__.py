"""textlstm's recurrent layers: `LSTM`, `GRU` and their one-step cells.

They agree numerically with `keras.layers.LSTM`/`GRU` given the same weights, run
through cuDNN on a GPU and through textlstm's fused, compiled loop on a CPU.
"""

from textlstm._backend import require_tensorflow_backend

require_tensorflow_backend()

from textlstm.layers.bidirectional import Bidirectional  # noqa: E402
from textlstm.layers.dispatch import force_kernel, kernel_plan  # noqa: E402
from textlstm.layers.gru import GRU, GRUCell  # noqa: E402
from textlstm.layers.lstm import LSTM, LSTMCell  # noqa: E402

__all__ = ["LSTM", "LSTMCell", "GRU", "GRUCell", "Bidirectional", "force_kernel", "kernel_plan"]
