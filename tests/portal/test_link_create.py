"""portal_link_create: any number of links for one email, even in one second, each its own expiry second."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from echopilot.exceptions import Unavailable
from portal.links import link_sign, signature_hash
from portal.models import PortalLink
from portal.services import portal_link_create
from tests.constants import CUSTOMER
from tests.fixtures.portal import path_of

NOW = datetime.now(UTC).replace(microsecond=0)  # links must still work when opened below


def fill(*, email: str, first: int, last: int) -> None:
    """Links of ``email`` expiring at every second from ``first`` to ``last``, written directly."""
    PortalLink.objects.bulk_create(
        PortalLink(
            sig_hash=signature_hash(link_sign(email=email, exp=exp)),
            email=email,
            expires_at=datetime.fromtimestamp(exp, UTC),
            created_by="test",
            created_at=NOW,
        )
        for exp in range(first, last + 1)
    )


@pytest.mark.slow
@pytest.mark.django_db
def test_a_thousand_links_for_one_email_in_one_second_all_succeed_with_a_few_queries_each():
    with CaptureQueriesContext(connection) as queries:
        paths = [portal_link_create(email=CUSTOMER, created_by="test", now=NOW)[1] for _ in range(1000)]
    assert len(set(paths)) == 1000
    expiries = sorted(PortalLink.objects.values_list("expires_at", flat=True))
    top = NOW + timedelta(hours=24)
    assert expiries == [top - timedelta(seconds=n) for n in range(999, -1, -1)]  # the latest free seconds
    # A constant number per link (the search, a savepoint around the insert), not one per second already taken.
    assert len(queries) <= 4 * 1000
    client = Client()
    for path in (paths[0], paths[-1]):
        assert client.get(path_of(path)).status_code == 302


@pytest.mark.django_db
def test_when_an_hour_of_expiry_seconds_is_taken_the_link_expires_in_the_hour_before():
    exp = int(NOW.timestamp()) + 24 * 3600
    fill(email=CUSTOMER, first=exp - 3600 + 1, last=exp)
    link, path = portal_link_create(email=CUSTOMER, created_by="test", now=NOW)
    assert int(link.expires_at.timestamp()) == exp - 3600
    assert Client().get(path_of(path)).status_code == 302


@pytest.mark.slow
@pytest.mark.django_db
def test_only_when_every_second_of_the_lifetime_is_taken_is_it_refused():
    now = int(NOW.timestamp())
    fill(email=CUSTOMER, first=now + 2, last=now + 3600)
    portal_link_create(email=CUSTOMER, created_by="test", expiry_hours=1, now=NOW)  # the last free second
    with pytest.raises(Unavailable):
        portal_link_create(email=CUSTOMER, created_by="test", expiry_hours=1, now=NOW)
    assert PortalLink.objects.count() == 3600


@pytest.mark.django_db
def test_other_emails_links_do_not_take_this_emails_seconds():
    exp = int(NOW.timestamp()) + 24 * 3600
    fill(email="bob@example.com", first=exp - 10, last=exp)
    link, _ = portal_link_create(email=CUSTOMER, created_by="test", now=NOW)
    assert int(link.expires_at.timestamp()) == exp


@pytest.mark.django_db(transaction=True)
def test_links_for_one_email_created_at_once_all_succeed_with_their_own_seconds():
    threads, per_thread = 8, 10
    barrier = threading.Barrier(threads)
    errors = []

    def create():
        try:
            barrier.wait()
            for _ in range(per_thread):
                portal_link_create(email=CUSTOMER, created_by="test", now=NOW)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=create) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    expiries = list(PortalLink.objects.values_list("expires_at", flat=True))
    assert len(expiries) == len(set(expiries)) == threads * per_thread
