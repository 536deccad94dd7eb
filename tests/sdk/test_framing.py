"""Splitting the byte stream into frames, however it is chunked."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from synthral_sdk._framing import FrameSplitter


def split(data: bytes, cuts: list[int], limit: int) -> tuple[list[bytes], list[int]]:
    frames: list[bytes] = []
    oversized: list[int] = []
    splitter = FrameSplitter(limit, frames.append, oversized.append)
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    for start, end in itertools.pairwise(points):
        splitter.feed(data[start:end])
    return frames, oversized


@given(
    st.lists(st.binary(min_size=1, max_size=40).filter(lambda b: b"\n" not in b and b.strip()), max_size=20),
    st.lists(st.integers(min_value=0, max_value=10_000), max_size=30),
)
def test_any_chunking_gives_the_same_frames(lines: list[bytes], cuts: list[int]) -> None:
    data = b"".join(line + b"\n" for line in lines)
    frames, oversized = split(data, cuts, limit=1000)
    assert frames == lines and oversized == []


@given(st.lists(st.integers(min_value=0, max_value=500), max_size=30))
def test_oversized_frames_are_dropped_and_the_next_one_survives(cuts: list[int]) -> None:
    data = b"a" * 150 + b"\n" + b"ok\n" + b"b" * 99 + b"\n"
    frames, oversized = split(data, cuts, limit=100)
    assert frames == [b"ok", b"b" * 99]
    assert oversized == [151]


def test_blank_lines_are_skipped() -> None:
    frames, _ = split(b"\n \n{}\n", [], limit=100)
    assert frames == [b"{}"]
