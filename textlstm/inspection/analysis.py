"""What the recorded activations say: gate saturation and interpretable units.

Saturation follows Karpathy, Johnson & Fei-Fei (2015), "Visualizing and Understanding
Recurrent Networks": a gate unit is left-saturated when below 0.1 and right-saturated
when above 0.9; the fraction of characters spent in each, per unit, places the unit on
a scatter plot (always-open forget gates are integrators, always-closed ones forget).

Interpretable units are those whose memory (the LSTM cell state, the GRU hidden state)
correlates most with a simple property of the text at each character.
"""

import numpy as np

from textlstm.inspection.record import SIGMOID_GATES, STATE_GATE

LEFT, RIGHT = 0.1, 0.9
QUOTES = '"'  # straight double quotes toggle; straight single quotes are mostly apostrophes in prose
OPEN_QUOTES = "\u201c\u201e\u00ab\u2018"  # “ „ « ‘
CLOSE_QUOTES = "\u201d\u00bb\u2019"  # ” » ’ (’ only when it is not an apostrophe, see QuoteTracker)
OPENING, CLOSING = "([{", ")]}"

FEATURE_DESCRIPTIONS = {
    "inside_quotes": 'between opening and closing quotes (" \u201c \u201d \u201e \u2018 \u2019 \u00ab \u00bb)',
    "inside_brackets": "inside (), [] or {} (any depth)",
    "position_in_line": "fraction of the current line read so far (0 at its start, 1 at its end)",
    "line_length_so_far": "characters since the last newline",
    "after_newline": "the character just read is a newline",
}


def saturation(recording):
    """`{layer: {gate: (left [units], right [units])}}` for the sigmoid gates."""
    result = []
    for gates in recording.layers:
        result.append(
            {
                name: ((gates[name] < LEFT).mean(axis=0), (gates[name] > RIGHT).mean(axis=0))
                for name in SIGMOID_GATES[recording.cell_type]
            }
        )
    return result


class QuoteTracker:
    """Whether each character is inside quotes, for straight and typographic quotes.

    `"` toggles; “ and „ open and ” closes a double quote (German „…“ closes with “);
    « opens and » closes (nested guillemets count depth); ‘ opens a single quote and ’
    closes it, unless ’ stands between two letters (an apostrophe: don’t) or no single
    quote is open.
    """

    def __init__(self):
        self.straight = self.double = self.single = False
        self.low = False  # the open double quote was „, so “ closes it
        self.guillemets = 0

    def feed(self, char, following=""):
        if char == '"':
            self.straight = not self.straight
        elif char == "\u201e":
            self.double, self.low = True, True
        elif char == "\u201c":
            if self.double and self.low:
                self.double = self.low = False
            else:
                self.double = True
        elif char == "\u201d":
            self.double = self.low = False
        elif char == "\u00ab":
            self.guillemets += 1
        elif char == "\u00bb":
            self.guillemets = max(0, self.guillemets - 1)
        elif char == "\u2018":
            self.single = True
        elif char == "\u2019" and self.single and not following.isalpha():
            self.single = False
        return self.inside

    @property
    def inside(self):
        return self.straight or self.double or self.single or self.guillemets > 0


def text_features(text):
    """`{feature: [characters] float}`: each feature's value after reading each character."""
    n = len(text)
    quotes, brackets, column, fraction, newline = (np.zeros(n, dtype=np.float32) for _ in range(5))
    tracker, depth, since_newline, line_start = QuoteTracker(), 0, 0, 0
    for t, char in enumerate(text):
        inside = tracker.feed(char, text[t + 1 : t + 2])
        if char in OPENING:
            depth += 1
        elif char in CLOSING:
            depth = max(0, depth - 1)
        since_newline = 0 if char == "\n" else since_newline + 1
        quotes[t], brackets[t], column[t], newline[t] = inside, depth > 0, since_newline, char == "\n"
    for t, char in enumerate(text + "\n"):  # the whole line's length is known only at its end
        if char == "\n" and t > line_start:
            length = t - line_start
            fraction[line_start:t] = np.arange(1, length + 1) / length
        if char == "\n":
            line_start = t + 1
    return {
        "inside_quotes": quotes,
        "inside_brackets": brackets,
        "position_in_line": fraction,
        "line_length_so_far": column,
        "after_newline": newline,
    }


def correlations(states, feature):
    """Pearson correlation of each unit (`states [time, units]`) with `feature [time]`; NaN where
    either does not vary."""
    centred = states - states.mean(axis=0)
    f = feature - feature.mean()
    denominator = np.sqrt((centred**2).sum(axis=0) * (f**2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (centred * f[:, None]).sum(axis=0) / denominator
    return np.where(denominator > 1e-12, r, np.nan)


def interpretable_units(recording, per_feature=3):
    """The units whose memory tracks each text feature best, strongest first.

    Returns `(rows, constant)`: rows of `{"feature", "layer", "unit", "correlation"}` (the
    `per_feature` best units of all layers for each feature), and the features that do not
    vary in this text (no correlation can be measured for them).
    """
    gate = STATE_GATE[recording.cell_type]
    memories = [gates[gate].astype(np.float64) for gates in recording.layers]  # once, not per feature
    rows, constant = [], []
    for name, feature in text_features(recording.text).items():
        if feature.std() == 0:
            constant.append(name)
            continue
        candidates = []
        for layer, memory in enumerate(memories):
            r = correlations(memory, feature.astype(np.float64))
            candidates += [(abs(value), layer, unit, value) for unit, value in enumerate(r) if np.isfinite(value)]
        candidates.sort(key=lambda row: (-row[0], row[1], row[2]))
        rows += [
            {"feature": name, "layer": layer, "unit": int(unit), "correlation": float(value)}
            for _, layer, unit, value in candidates[:per_feature]
        ]
    rows.sort(key=lambda row: -abs(row["correlation"]))
    return rows, constant
