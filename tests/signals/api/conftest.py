from urllib.parse import urlsplit

import pytest
from django.urls import resolve
from rest_framework.test import APIRequestFactory, force_authenticate

from omen_site.api.auth import KeyHolder
from omen_site.api.keys import ApiKey


@pytest.fixture
def api(client):
    """The test client, sending a key that may read signals."""
    _, raw = ApiKey.issue("reader", ["read:signals"])
    client.defaults["HTTP_X_API_KEY"] = raw
    return client


@pytest.fixture
def view_get():
    """GET ``path`` from its view alone, as an admin key: the queries counted are the view's own.

    Authentication's queries (the key's lookup, its last use) depend on what the key cache holds
    and when the key was last used, so a count through the client would pin those too.
    """
    key, _ = ApiKey.issue("counted", ["admin"])
    factory = APIRequestFactory()

    def get(path):
        match = resolve(urlsplit(path).path)
        request = factory.get(path)
        force_authenticate(request, user=KeyHolder(key), token=key)
        response = match.func(request, *match.args, **match.kwargs)
        assert response.status_code == 200, response.data
        return response.data

    return get
