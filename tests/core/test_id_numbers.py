"""居民身份证号码 (GB 11643-1999): 18 characters, a real birth date, the ISO 7064 MOD 11-2 check
character; each refusal says in Chinese what is wrong."""

from __future__ import annotations

from datetime import timedelta

import pytest

from canyu.core import clock
from canyu.core.errors import DomainError
from canyu.core.id_numbers import check_character, normalize_id_number


def _mod_11_2_holds(number: str) -> bool:
    """ISO 7064 MOD 11-2 as the standard states it, independently of the module: with the
    positions counted from the right (the check character is position 1, X is ten), the sum of
    a_i * 2^(i-1) is 1 modulo 11."""
    values = [10 if c == "X" else int(c) for c in reversed(number)]
    return sum(v * 2**i for i, v in enumerate(values)) % 11 == 1


def _with_check(first17: str) -> str:
    return first17 + check_character(first17)


def _refusal(value: str) -> DomainError:
    with pytest.raises(DomainError) as caught:
        normalize_id_number(value)
    assert caught.value.status == 422 and caught.value.field == "id_number"
    return caught.value


def test_the_standards_own_examples_and_computed_numbers_are_valid():
    # The two examples printed in GB 11643-1999.
    for number in ("11010519491231002X", "440524188001010014"):
        assert _mod_11_2_holds(number)
        assert normalize_id_number(number) == number
    # Pudong numbers computed here: every remainder gives a number the rule accepts.
    seen_checks = set()
    for seq in range(200):
        number = _with_check(f"31011519900307{seq:03d}")
        assert _mod_11_2_holds(number), number
        assert normalize_id_number(number) == number
        seen_checks.add(number[-1])
    assert seen_checks == set("0123456789X")


def test_x_is_stored_uppercase_and_spaces_and_full_width_digits_are_accepted():
    assert normalize_id_number("11010519491231002x") == "11010519491231002X"
    assert normalize_id_number(" 110105 19491231 002X ") == "11010519491231002X"
    assert normalize_id_number("１１０１０５１９４９１２３１００２ｘ") == "11010519491231002X"


def test_a_wrong_check_character_is_refused():
    good = "11010519491231002X"
    for wrong in "0123456789":
        error = _refusal(good[:17] + wrong)
        assert error.code == "invalid_id_number" and "校验位" in error.message
    # One mistyped digit in the middle is caught too.
    assert "校验位" in _refusal("11010519491231102X").message


def test_an_impossible_or_future_birth_date_is_refused():
    for first17 in (
        "31011519900230123",  # 30 February
        "31011519901301123",  # month 13
        "31011519900000123",  # day 0
        "31011517990101123",  # before 1800
        "31011520230229123",  # 2023 had no 29 February
    ):
        error = _refusal(_with_check(first17))
        assert error.code == "invalid_id_number" and "出生日期" in error.message, first17
    tomorrow = (clock.today() + timedelta(days=1)).strftime("%Y%m%d")
    assert "出生日期" in _refusal(_with_check(f"310115{tomorrow}123")).message
    # 29 February of a leap year is a real date.
    assert normalize_id_number(_with_check("31011520000229123"))


def test_the_old_fifteen_digit_format_is_refused_with_its_own_message():
    error = _refusal("310115900307123")
    assert error.code == "invalid_id_number"
    assert "15 位" in error.message and "18 位" in error.message


def test_other_shapes_and_region_codes_are_refused():
    for value in (
        "3101151990030712",
        "3101151990030712345",
        "31011519900307123Y",
        "X1011519900307123",
    ):
        assert "18 位" in _refusal(value).message, value
    assert "地区代码" in _refusal(_with_check("00011519900307123")).message
    assert _refusal("").code == "id_number_required"
    assert _refusal("   ").code == "id_number_required"
    with pytest.raises(ValueError):
        check_character("1234")
