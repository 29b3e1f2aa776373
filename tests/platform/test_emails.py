"""The platform's one form of an email address: trimmed and lowercase, as a whole."""

import pytest

from echopilot.emails import normalize_email, valid_email


def test_an_address_is_trimmed_and_lowercased_as_a_whole():
    assert normalize_email("  Ann.Lee@Example.COM ") == "ann.lee@example.com"
    assert normalize_email(None) == ""


def test_a_valid_address_comes_back_normalized():
    assert valid_email("  Ann.Lee@Example.COM ") == "ann.lee@example.com"
    assert valid_email("\tann@example.com\x85\u2028") == "ann@example.com"  # any whitespace around it is trimmed


@pytest.mark.parametrize(
    "address",
    [
        "",
        None,
        "ann",
        "ann@",
        "@example.com",
        "a b@x.io",
        "ann@example.com\r\nBcc: x@y.z",
        '"a\x0bb"@example.com',
        '"a\x1fb"@example.com',
        "ann\u2028x@example.com",
        "a" * 250 + "@x.io",
    ],
)
def test_what_is_no_address_to_send_to_is_refused(address):
    with pytest.raises(ValueError, match="is not a valid email address"):
        valid_email(address)
