"""theory.checks.check_choice: one closed-set check whose InputError names the argument, the choices and the value."""
import numpy as np
import pytest

from syncgap.theory.checks import InputError, check_choice


def test_a_choice_comes_back_unchanged():
    assert check_choice("sampler", "ddim", ("ddpm", "ddim")) == "ddim"
    assert check_choice("expected", -1, (1, -1)) == -1
    assert check_choice("dataset", "b", {"a": 1, "b": 2}) == "b"      # a mapping: its keys


@pytest.mark.parametrize("value", ["euler", None, 3, np.arange(2), ["ddpm"]])
def test_anything_else_names_the_argument_the_choices_and_the_value(value):
    with pytest.raises(InputError) as err:
        check_choice("sampler", value, ("ddpm", "ddim"))
    assert str(err.value) == f"sampler must be one of ddpm, ddim, got {value!r}"
