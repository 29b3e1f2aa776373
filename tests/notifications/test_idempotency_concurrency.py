"""Simultaneous sends with one Idempotency-Key: one request wins, a different one gets 409, nothing is sent twice."""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from notifications.models import Email
from tests.constants import DASH_KEY

pytestmark = pytest.mark.django_db(transaction=True)
URL = "/api/email/send"


def test_one_key_two_bodies_at_once_one_wins_the_other_is_a_409():
    bodies = [{"to": "ann@example.com", "subject": f"Version {n % 2}", "body": "Text."} for n in range(8)]
    barrier = threading.Barrier(len(bodies))
    answers = [None] * len(bodies)

    def send(index: int):
        try:
            client = APIClient()
            client.credentials(HTTP_X_DASH_KEY=DASH_KEY)
            barrier.wait()
            response = client.post(URL, bodies[index], format="json", HTTP_IDEMPOTENCY_KEY="race-1")
            answers[index] = (response.status_code, response.json())
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(index,)) for index in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    [email] = Email.objects.all()
    for body, (status, answer) in zip(bodies, answers, strict=True):
        if body["subject"] == email.subject:
            assert (status, answer["id"]) == (200, email.public_id)
        else:
            assert (status, answer["error"]) == (409, "idempotency_key_reused")
