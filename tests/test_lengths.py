import pytest

from longllada_theory import LongLLaDAError, format_length, parse_length
from longllada_theory.lengths import parse_lengths


@pytest.mark.parametrize("text, tokens", [("16k", 16384), ("16384", 16384), ("32K", 32768), (" 4k ", 4096),
                                          ("0.5k", 512), (2048, 2048), ("1m", 1048576)])
def test_lengths_are_read_as_people_write_them(text, tokens):
    assert parse_length(text) == tokens


@pytest.mark.parametrize("text", ["", "abc", "16kb", "-4k", "0", "1.5", "0.0001k", True])
def test_a_non_length_is_refused_with_what_is_expected(text):
    with pytest.raises(LongLLaDAError, match="length|tokens"):
        parse_length(text)


def test_comma_separated_lists():
    assert parse_lengths("2k,4k, 8192") == [2048, 4096, 8192]
    with pytest.raises(LongLLaDAError, match="empty"):
        parse_lengths(" , ")


def test_format_length_round_trips_multiples_of_1024():
    assert format_length(16384) == "16k"
    assert parse_length(format_length(16384)) == 16384
    assert format_length(4443.3) == "4443"
    assert format_length(float("inf")) == "∞"
