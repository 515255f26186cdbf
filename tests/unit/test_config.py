"""Settings: sizes are parsed as people write them, and a wrong one is refused when it is set."""
import pytest
from traitlets import TraitError

from collab_reuse.config import CollabReuse, format_size, parse_size


@pytest.mark.parametrize("text, expected", [("2GB", 2 * 10**9), ("512 MiB", 512 * 2**20), ("1.5GB", 1_500_000_000),
                                            ("100000", 100_000), (" 3 kb ", 3000), (7, 7)])
def test_sizes_parse_as_written(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["lots", "-1GB", "2 GBs", ""])
def test_a_wrong_size_is_refused_with_examples(text):
    with pytest.raises(ValueError, match="examples"):
        parse_size(text)


@pytest.mark.parametrize("trait", ["budget", "max_pending"])
def test_a_wrong_size_setting_is_refused_when_set(trait):
    config = CollabReuse()
    with pytest.raises(TraitError, match=f"CollabReuse.{trait}: not a size"):
        setattr(config, trait, "lots")
    setattr(config, trait, "3GB")
    assert parse_size(getattr(config, trait)) == 3 * 10**9


def test_formatted_sizes_read_back_close_to_the_original():
    assert format_size(2_500_000_000) == "2.5 GB"
    assert abs(parse_size(format_size(123_456_789).replace(" ", "")) - 123_456_789) < 100_000


@pytest.mark.parametrize("text", ["1" * 400, "1" * 25 + "TB", "9223372036854775808", "10000000000 GB"])
def test_a_size_too_large_is_refused_clearly_not_by_an_overflow(text):
    with pytest.raises(ValueError, match="at most"):
        parse_size(text)


def test_the_largest_size_sqlite_holds_is_accepted():
    assert parse_size("9223372036854775807") == 2**63 - 1


@pytest.mark.parametrize("trait", ["idle_seconds", "exit_write_seconds", "exit_flush_seconds", "min_saving"])
@pytest.mark.parametrize("value", [-1.0, float("nan"), float("inf"), 1e9])
def test_a_duration_out_of_range_is_refused_when_set(trait, value):
    config = CollabReuse()
    with pytest.raises(TraitError, match=f"CollabReuse.{trait} must be a number of seconds from 0"):
        setattr(config, trait, value)
    setattr(config, trait, 0.0)
    assert getattr(config, trait) == 0.0


@pytest.mark.parametrize("value", [0, -3, 65])
def test_the_exit_writer_cap_is_refused_out_of_range(value):
    with pytest.raises(TraitError, match="exit_writers"):
        CollabReuse(exit_writers=value)
