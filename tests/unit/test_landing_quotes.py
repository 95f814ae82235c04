"""Where an RFC 4180 record ends: bronze's per-line quote patterns agree with Python's csv module.

Bronze decides, line by line and without parsing, whether a physical line leaves a quoted field open
(:func:`jobs.bronze.quote_patterns`); a record starts at each line that starts outside quotes. Thousands of
random files written by ``csv.writer`` (fields full of quotes, doubled quotes, delimiters and line breaks, any
of four delimiters, minimal or full quoting) must give exactly the writer's record boundaries. The patterns
are Java regexes run by Spark; they use only syntax Python's ``re`` reads the same way (possessive
quantifiers: Python 3.11+).
"""
from __future__ import annotations

import csv
import io
import random
import re

import pytest

from jobs.bronze import quote_patterns

PIECES = ["a", "b", " ", '"', '""', "\n", "\r\n", ",", ";", "\t", "|", 'x"y', '"z', "é"]


def record_starts(lines: list[str], patterns: dict[str, re.Pattern]) -> tuple[list[int], bool]:
    """The 1-based lines records start on, and whether a quote is still open at the end."""
    starts, inside = [], False
    for number, line in enumerate(lines, 1):
        if not inside:
            starts.append(number)
        quoted = '"' in line
        if inside:
            inside = not quoted or bool(patterns["stays_open"].search(line))
        else:
            inside = quoted and bool(patterns["opens"].search(line))
    return starts, inside


def _write(rows, delimiter, quoting) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, quoting=quoting, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_record_boundaries_match_the_csv_writer_on_random_files(delimiter):
    patterns = {k: re.compile(v, re.S) for k, v in quote_patterns(delimiter).items()}
    for seed in range(750):
        rng = random.Random(seed)
        quoting = rng.choice([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])
        rows = [["".join(rng.choice(PIECES) for _ in range(rng.randint(0, 4))) for _ in range(3)] for _ in range(8)]
        expected, line = [], 1
        for row in rows:
            expected.append(line)
            line += _write([row], delimiter, quoting).count("\n")
        lines = _write(rows, delimiter, quoting).split("\n")[:-1]
        assert record_starts(lines, patterns) == (expected, False), (seed, rows)


def test_an_unclosed_quote_is_still_open_at_the_end_and_a_stray_quote_inside_a_field_opens_nothing():
    patterns = {k: re.compile(v, re.S) for k, v in quote_patterns(",").items()}
    assert record_starts(['1,"never closed', "2,b", "3,c"], patterns) == ([1], True)
    assert record_starts(['1,ab"c,d', '2,x"', "3,c"], patterns) == ([1, 2, 3], False)
    assert record_starts(['1,"a', 'b",2,"c', 'd"', "3"], patterns) == ([1, 4], False)  # closes, reopens, closes
