"""Thread count of `syncgap validate` (validation/cli/threads.threads_for): free cores, or $SYNCGAP_THREADS."""
import pytest

from syncgap.theory.checks import InputError
from syncgap.validation.cli.threads import threads_for


def test_free_cores_by_default_and_never_below_one():
    assert threads_for(2, 0.4) == 2          # quiet 2-core machine: both cores
    assert threads_for(2, 1.2) == 1          # one core busy elsewhere
    assert threads_for(2, 7.0) == 1          # loaded: one thread, not a pool fighting for the cores
    assert threads_for(16, 3.6) == 12


def test_the_environment_override_wins_and_is_checked():
    assert threads_for(2, 7.0, "3") == 3 and threads_for(2, 0.0, " ") == 2
    for bad in ("0", "-1", "two", "1.5"):
        with pytest.raises(InputError, match="SYNCGAP_THREADS"):
            threads_for(2, 0.0, bad)
