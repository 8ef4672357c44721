import pytest

from omen_site.api.keys import ApiKey


@pytest.fixture
def api(client):
    """The test client, sending a key that may read signals."""
    _, raw = ApiKey.issue("reader", ["read:signals"])
    client.defaults["HTTP_X_API_KEY"] = raw
    return client
