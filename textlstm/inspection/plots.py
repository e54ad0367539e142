"""Inline SVG figures for the report: the saturation scatter and the memory-span curve.

Plain SVG written by hand so the report needs no plotting library and no network.
"""

import html
import math

import numpy as np

LAYER_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
SIZE, MARGIN = 240, 36
FLOOR_DECADES = 12  # the span plot shows 12 decades below its top; far gradients underflow anyway


def _colour(layer):
    return LAYER_COLOURS[layer % len(LAYER_COLOURS)]


def _text(x, y, content, anchor="middle", size=11, rotate=None):
    transform = f' transform="rotate({rotate} {x:.1f} {y:.1f})"' if rotate is not None else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}"{transform}>'
        f"{html.escape(content)}</text>"
    )


def saturation_scatter(gate, per_layer):
    """One scatter for `gate`: x = fraction left-saturated, y = right-saturated, a dot per unit,
    coloured by layer. `per_layer` is a list of `(left, right)` arrays."""
    plot = SIZE - 2 * MARGIN
    parts = [
        f'<svg class="scatter" width="{SIZE}" height="{SIZE}" viewBox="0 0 {SIZE} {SIZE}" role="img">',
        f'<rect x="{MARGIN}" y="{MARGIN}" width="{plot}" height="{plot}" fill="#fafafa" stroke="#888"/>',
        f'<line x1="{MARGIN}" y1="{MARGIN}" x2="{MARGIN + plot}" y2="{MARGIN + plot}" stroke="#ccc" '
        'stroke-dasharray="3 3"/>',
    ]
    for layer, (left, right) in enumerate(per_layer):
        for x, y in zip(left, right):
            parts.append(
                f'<circle cx="{MARGIN + x * plot:.1f}" cy="{MARGIN + (1 - y) * plot:.1f}" r="2.2" '
                f'fill="{_colour(layer)}" fill-opacity="0.55"/>'
            )
    parts += [
        _text(SIZE / 2, 20, f"{gate} gate", size=13),
        _text(SIZE / 2, SIZE - 8, "fraction left-saturated (< 0.1)"),
        _text(12, SIZE / 2, "fraction right-saturated (> 0.9)", rotate=-90),
        _text(MARGIN, SIZE - MARGIN + 13, "0"),
        _text(MARGIN + plot, SIZE - MARGIN + 13, "1"),
        _text(MARGIN - 5, MARGIN + plot, "0", anchor="end"),
        _text(MARGIN - 5, MARGIN + 4, "1", anchor="end"),
        "</svg>",
    ]
    return "".join(parts)


def layer_legend(layer_count):
    return " ".join(
        f'<span class="legend"><span style="background:{_colour(i)}"></span>layer {i}</span>'
        for i in range(layer_count)
    )


def memory_span_plot(span, width=560, height=320):
    """Sensitivity (relative to k = 1) against distance k, both on log scales, with the 1% line
    and the span marked."""
    values = np.asarray(span.sensitivity, dtype=np.float64)
    values = values / values[0] if values[0] > 0 else values
    left, right, top, bottom = 64, 16, 16, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    x_max = math.log10(max(len(values), 2))
    y_high = max(0, math.ceil(math.log10(max(values.max(), 1e-30))))
    y_low = max(math.floor(math.log10(max(values.min(), 1e-30))), y_high - FLOOR_DECADES)
    y_low = min(y_low, y_high - 1)
    values = np.maximum(values, 10.0**y_low)  # below the floor (or underflowed to 0): drawn on the axis
    y_step = max(1, math.ceil((y_high - y_low) / 8))

    def x_of(k):
        return left + math.log10(k) / x_max * plot_w

    def y_of(value):
        return top + (y_high - math.log10(value)) / (y_high - y_low) * plot_h

    parts = [
        f'<svg class="span" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fafafa" stroke="#888"/>',
    ]
    for power in range(0, int(math.floor(x_max)) + 1):
        x = x_of(10**power)
        parts += [
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}" stroke="#e4e4e4"/>',
            _text(x, top + plot_h + 14, f"{10**power}"),
        ]
    for power in range(y_high, y_low - 1, -y_step):
        y = y_of(10.0**power)
        parts += [
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#e4e4e4"/>',
            _text(left - 5, y + 4, f"1e{power}", anchor="end"),
        ]
    points = " ".join(f"{x_of(k):.1f},{y_of(v):.1f}" for k, v in enumerate(values, start=1))
    floor = y_of(values[0] * span.threshold)
    parts += [
        f'<polyline points="{points}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>',
        f'<line x1="{left}" y1="{floor:.1f}" x2="{left + plot_w}" y2="{floor:.1f}" stroke="#d62728" '
        'stroke-dasharray="5 4"/>',
        _text(left + plot_w - 4, floor - 4, f"{span.threshold:.0%} of k=1", anchor="end"),
    ]
    if span.span is not None:
        x = x_of(span.span)
        parts += [
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}" stroke="#2ca02c"/>',
            _text(x + 4, top + 14, f"span = {span.span}", anchor="start"),
        ]
    parts += [
        _text(left + plot_w / 2, height - 6, "distance k (characters back, log scale)"),
        _text(14, top + plot_h / 2, "sensitivity relative to k = 1", rotate=-90),
        "</svg>",
    ]
    return "".join(parts)
