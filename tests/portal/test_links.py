"""Signing and parsing links: pure functions, no database."""

import pytest

from portal.links import (
    LinkParams,
    link_beyond_lifetime,
    link_expired,
    link_params_parse,
    link_path,
    link_sign,
    link_signature_valid,
)
from tests.constants import PORTAL_NOW as NOW

EXP = int(NOW.timestamp()) + 3600


def params(email="ann@example.com", exp=EXP, sig=None) -> LinkParams:
    return LinkParams(email=email, exp=exp, sig=sig or link_sign(email="ann@example.com", exp=EXP))


def test_a_signed_link_verifies():
    assert link_signature_valid(params())


@pytest.mark.parametrize(
    "tampered",
    [
        {"email": "ann@example.co"},
        {"email": "Ann@example.com"},
        {"exp": EXP + 1},
        {"sig": "A" + link_sign(email="ann@example.com", exp=EXP)[1:]},
        {"sig": link_sign(email="bob@example.com", exp=EXP)},
    ],
)
def test_it_rejects_a_tampered_link(tampered):
    assert not link_signature_valid(params(**tampered))


def test_the_signed_text_is_unambiguous():
    # With naive concatenation "a1" + "23" and "a12" + "3" would sign the same text.
    assert link_sign(email="a@b.c1", exp=23) != link_sign(email="a@b.c", exp=123)
    assert not link_signature_valid(LinkParams("a@b.c", 123, link_sign(email="a@b.c1", exp=23)))


def test_the_signature_is_url_safe():
    sig = link_sign(email="ann+tag@example.com", exp=EXP)
    assert sig.isascii() and set(sig) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_it_verifies_links_signed_with_a_fallback_secret_during_rotation(settings):
    sig = link_sign(email="ann@example.com", exp=EXP)
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "new-secret-" + "y" * 40, [settings.SECRET_KEY]
    assert link_signature_valid(params(sig=sig))
    settings.SECRET_KEY_FALLBACKS = []
    assert not link_signature_valid(params(sig=sig))


def test_a_link_works_until_the_second_it_expires():
    assert not link_expired(exp=EXP, now=NOW)
    assert not link_expired(exp=int(NOW.timestamp()) + 1, now=NOW)
    assert link_expired(exp=int(NOW.timestamp()), now=NOW)
    assert link_expired(exp=int(NOW.timestamp()) - 1, now=NOW)


def test_the_path_encodes_the_email():
    assert link_path(email="ann+x@example.com", exp=5, sig="abc") == "/portal?e=ann%2Bx%40example.com&exp=5&sig=abc"


def test_plus_ampersand_percent_and_hash_in_an_email_survive_the_round_trip():
    from urllib.parse import parse_qs, urlsplit

    email = "a+b&c%d#e@example.com"
    query = parse_qs(urlsplit(link_path(email=email, exp=5, sig="abc")).query)
    assert query == {"e": [email], "exp": ["5"], "sig": ["abc"]}


def test_a_link_beyond_the_maximum_lifetime_is_refused():
    now_ts = int(NOW.timestamp())
    assert not link_beyond_lifetime(exp=now_ts + 168 * 3600, now=NOW, max_hours=168)
    assert link_beyond_lifetime(exp=now_ts + 168 * 3600 + 1, now=NOW, max_hours=168)


def test_well_formed_parameters_are_parsed():
    assert link_params_parse(e=["ann@example.com"], exp=["123"], sig=["a-b_c"]) == LinkParams(
        "ann@example.com", 123, "a-b_c"
    )


@pytest.mark.parametrize(
    ("e", "exp", "sig"),
    [
        ([], ["1"], ["s"]),
        (["a@b.c"], [], ["s"]),
        (["a@b.c"], ["1"], []),
        (["a@b.c", "a@b.c"], ["1"], ["s"]),
        (["a@b.c"], ["1", "1"], ["s"]),
        (["a@b.c"], ["1"], ["s", "s"]),
        ([""], ["1"], ["s"]),
        (["a" * 250 + "@b.cd"], ["1"], ["s"]),
        (["a@b.c"], [""], ["s"]),
        (["a@b.c"], ["-1"], ["s"]),
        (["a@b.c"], ["+1"], ["s"]),
        (["a@b.c"], [" 1"], ["s"]),
        (["a@b.c"], ["1.0"], ["s"]),
        (["a@b.c"], ["１２３"], ["s"]),  # full-width digits: str.isdigit() says yes
        (["a@b.c"], ["٣"], ["s"]),
        (["a@b.c"], ["12345678901"], ["s"]),
        (["a@b.c"], ["1"], [""]),
        (["a@b.c"], ["1"], ["s" * 101]),
        (["a@b.c"], ["1"], ["sig:extra"]),
        (["a@b.c"], ["1"], ["sïg"]),
        (["a@b.c"], ["1"], ["s\n"]),
    ],
)
def test_it_rejects_malformed_parameters(e, exp, sig):
    assert link_params_parse(e=e, exp=exp, sig=sig) is None
