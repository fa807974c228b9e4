"""The reader thread: items in order, whatever the chunk and the limit; an error after the items before it."""

from __future__ import annotations

import pytest

from bilstm_tagger.text.readahead import ReadAhead


def take_all(source: ReadAhead, limit: int) -> list[list[int]]:
    takes = []
    while items := source.take(limit, patience=None):
        takes.append(items)
    return takes


@pytest.mark.parametrize("chunk", [1, 3, 64])
@pytest.mark.parametrize("limit", [1, 4, 100])
def test_every_item_arrives_once_in_order_in_takes_of_the_limit(chunk, limit):
    source = ReadAhead(range(50), capacity=8, chunk=chunk)
    takes = take_all(source, limit)
    assert [item for items in takes for item in items] == list(range(50))
    assert all(len(items) == limit for items in takes[:-1])  # a file's takes are full until the end
    assert source.take(limit) == []


@pytest.mark.parametrize("chunk", [1, 4])
def test_an_error_comes_after_the_items_read_before_it(chunk):
    def items():
        yield from range(6)
        raise ValueError("line 7: bad")

    source = ReadAhead(items(), chunk=chunk)
    assert source.take(4, patience=None) == [0, 1, 2, 3]
    assert source.take(4, patience=None) == [4, 5]
    with pytest.raises(ValueError, match="line 7"):
        source.take(4, patience=None)
