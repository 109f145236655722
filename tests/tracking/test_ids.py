"""Run ids and names: their alphabet, length and spread."""

from __future__ import annotations

import re

from nb_mlops.tracking.ids import new_run_id, new_run_name


def test_run_ids_use_every_symbol_in_every_place() -> None:
    """Eight Crockford base32 symbols, each place taking all 32 (40 random bits)."""
    ids = [new_run_id() for _ in range(4000)]
    assert all(re.fullmatch(r"[0-9a-hjkmnp-tv-z]{8}", i) for i in ids)
    for place in range(8):
        assert len({i[place] for i in ids}) == 32, place
    assert len(set(ids)) == len(ids)


def test_run_names_read_as_words_and_a_number() -> None:
    assert all(re.fullmatch(r"[a-z]+-[a-z]+-[1-9][0-9]", new_run_name()) for _ in range(200))
