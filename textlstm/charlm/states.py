"""Per-character hidden states of a trained char LM: what other models take from it as features.

Contextual string embeddings (Akbik, Blythe and Vollgraf, "Contextual String Embeddings for
Sequence Labeling", COLING 2018) read a sentence with a forward and a backward char LM and
take, for each word, the forward LM's hidden state after the word's last character and the
backward LM's hidden state after it has read (from the right) the word's first character.
`CharHiddenStates` gives those states for any strings; `hidden_state_model` is the Keras
sub-model behind it, for code that wants the LM inside its own graph (to fine-tune it).
"""

import keras
import numpy as np
import tensorflow as tf

from textlstm.charlm.corpus import reading_order
from textlstm.errors import UserError


def hidden_state_model(model, layer=-1):
    """The Keras model `char ids [B, T] int32 -> hidden states [B, T, units] float32` of the
    char LM `model`'s recurrent layer `layer` (an index into rnn_0, rnn_1, ...; -1, the
    default, is the top layer). It shares the LM's weights (no copy). Raises `UserError` for
    a layer the model does not have."""
    from textlstm.charlm.model import recurrent_layers

    layers = recurrent_layers(model)
    if not -len(layers) <= layer < len(layers):
        raise UserError(
            f"layer must be between {-len(layers)} and {len(layers) - 1} for this char LM "
            f"of {len(layers)} recurrent layers, got {layer}"
        )
    return keras.Model(model.inputs, layers[layer].output, name=f"{model.name}_states_{layer % len(layers)}")


class CharHiddenStates:
    """The hidden states of one recurrent layer of a char LM run, one row per character.

    Args:
        run_dir: a char LM run directory (forward or backward, `data.direction`; a run of
            subword units is refused: its states are per piece, not per character).
        layer: which recurrent layer (default -1: the top one).

    Call arguments:
        texts: a string, or a list of strings (run together in batches of `batch_size`,
            padded at their end in reading order, which changes no state of a real character).
        order: "reading" (default): row i is the state after the LM has read i + 1
            characters in its own reading order, so for a backward LM row i belongs to
            `text[len(text) - 1 - i]`; "text": rows follow the text, row j is the state
            right after the LM read `text[j]` (forward: having read `text[:j + 1]`;
            backward: having read `text[j:]` from its end).
        batch_size: strings per model call (default 32).

    Returns:
        float32 array `[len(text), units]` for a string; a list of them for a list. Dropout
        is off. Characters outside the vocabulary are read as its unknown entry.

    Raises:
        TextlstmError: a run directory that is missing, damaged or of subword units; an
            argument of the wrong type, outside what `textlstm.schema` declares
            (`states.order`, `states.batch_size`), or a text that is not valid Unicode text.

    Example:
        >>> states = CharHiddenStates("runs/lm-backward")
        >>> states("a b").shape, states.backward
        ((3, 256), True)

    Reference: Akbik et al. (2018), above; the LM itself is `textlstm.charlm.model`.
    """

    def __init__(self, run_dir, layer=-1):
        from textlstm.api.checks import check_int, check_path
        from textlstm.charlm.corpus import is_backward, is_subword
        from textlstm.charlm.generate import load_char_lm
        from textlstm.charlm.model import DEFAULTS
        from textlstm.families import CHARLM
        from textlstm.rundir import RunDir

        check_path("run_dir", run_dir)
        check_int("layer", layer)
        recipe = RunDir.open(run_dir, CHARLM).read_recipe(DEFAULTS)
        if is_subword(recipe):
            raise UserError(
                f"{run_dir} is a char LM of {recipe['data']['unit']} units; hidden states per "
                f'character need data.unit = "char"'
            )
        self.backward = is_backward(recipe)
        self.model, self.vocab = load_char_lm(run_dir)
        self.states_model = hidden_state_model(self.model, layer)
        self.units = int(self.states_model.output.shape[-1])
        self._run = tf.function(lambda ids: self.states_model(ids, training=False), reduce_retracing=True)

    def __call__(self, texts, order="reading", batch_size=32):
        from textlstm.api.checks import check_declared, check_str, check_string_list

        check_declared("order", order, "states.order", allow_none=False)
        check_declared("batch_size", batch_size, "states.batch_size", allow_none=False)
        single = isinstance(texts, str)
        texts = [check_str("texts", texts)] if single else check_string_list("texts", texts)
        results = []
        for start in range(0, len(texts), batch_size):
            results.extend(self._batch(texts[start : start + batch_size], order))
        return results[0] if single else results

    def _batch(self, texts, order):
        width = max((len(text) for text in texts), default=0)
        if width == 0:
            return [np.zeros((0, self.units), np.float32) for _ in texts]
        ids = np.zeros((len(texts), width), np.int32)  # the padding is read after each text: it changes nothing before
        for row, text in enumerate(texts):
            ids[row, : len(text)] = self.vocab.encode(reading_order(text, self.backward))
        states = np.asarray(self._run(tf.constant(ids)), np.float32)
        rows = [states[row, : len(text)] for row, text in enumerate(texts)]
        if order == "text" and self.backward:  # back from reading order to the text's
            rows = [reading_order(row, self.backward).copy() for row in rows]
        return rows
