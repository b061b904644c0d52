"""Reads a Code 128 barcode drawn as SVG bars back into its text, as a scanner would: the bars' widths
in modules, 11 modules a symbol (13 the stop), each symbol's value from its pattern, the code sets A,
B and C with their switches, and the check symbol verified. Enough for the console's labels."""

from __future__ import annotations

import re

from barcode.charsets.code128 import CODES, STOP  # the standard's bar patterns: values 0-105, and the stop

MODULE_MM = 0.2  # python-barcode's default module width
_VALUE_OF = {pattern: value for value, pattern in enumerate(CODES)}
_START = {103: "A", 104: "B", 105: "C"}
_SWITCH = {99: "C", 100: "B", 101: "A"}  # in code set C: 100 is B, 101 A; in A and B: 99 is C


def decode(svg: str) -> str:
    bars = [
        (float(x), float(width))
        for x, width in re.findall(r'<rect x="([\d.]+)mm" y="[\d.]+mm" width="([\d.]+)mm"[^>]*fill:black', svg)
    ]
    assert bars, "no bars"
    start = bars[0][0]
    modules = ["0"] * round((bars[-1][0] + bars[-1][1] - start) / MODULE_MM)
    for x, width in bars:
        first = round((x - start) / MODULE_MM)
        for n in range(round(width / MODULE_MM)):
            modules[first + n] = "1"
    drawn = "".join(modules)
    values = [_VALUE_OF[drawn[i : i + 11]] for i in range(0, len(drawn) - 13, 11)]
    assert drawn[-13:-2] == STOP and drawn[-2:] == "11", "no stop pattern and termination bar"
    *data, check = values
    assert sum(value * max(position, 1) for position, value in enumerate(data)) % 103 == check, "bad check symbol"
    code_set, text = _START[data[0]], []
    for value in data[1:]:
        if code_set == "C" and value < 100:
            text.append(f"{value:02d}")
        elif value in _SWITCH and not (code_set != "C" and value in (100, 101) and _SWITCH[value] == code_set):
            code_set = _SWITCH[value]
        elif code_set == "B":
            text.append(chr(value + 32))
        else:  # code set A: control characters and upper case
            text.append(chr(value + 32) if value < 64 else chr(value - 64))
    return "".join(text)
