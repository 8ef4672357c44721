"""The per-process key cache and the throttle's Redis script: what the rest of the suite (memory cache) never runs."""

import os

import pytest
import redis
from django.core.cache import caches

from omen_site.api import keys
from omen_site.api.keys import ApiKey
from omen_site.api.throttle import _count
from tests.support.broker import REDIS_URL

pytestmark = pytest.mark.django_db


def test_a_key_revoked_behind_the_cache_is_refused_once_its_second_is_up(monkeypatch):
    key, raw = ApiKey.issue("cached", ["read:signals"])
    clock = [1000.0]
    monkeypatch.setattr(keys.time, "monotonic", lambda: clock[0])
    assert ApiKey.find(raw) is not None

    ApiKey.objects.filter(pk=key.pk).update(revoked_at=key.created_at)  # no post_save: as another process
    still_trusted = ApiKey.find(raw)
    clock[0] += keys.FOUND_FOR_SECONDS + 0.01

    assert still_trusted is not None and ApiKey.find(raw) is None


def test_a_key_revoked_in_this_process_is_refused_at_once():
    key, raw = ApiKey.issue("cached", ["read:signals"])
    assert ApiKey.find(raw) is not None
    key.revoke()
    assert ApiKey.find(raw) is None


def test_a_key_revoked_in_the_admin_is_refused_at_once_and_the_change_log_says_who(admin_client, admin_user):
    from django.contrib.admin.models import CHANGE, LogEntry

    key, raw = ApiKey.issue("cached", ["read:signals"])
    assert ApiKey.find(raw) is not None  # trusted by this process for its second

    admin_client.post("/admin/omen_site/apikey/", {"action": "revoke", "_selected_action": [key.pk]})

    # The action revoked with an UPDATE: no post_save, so this process trusted the key on.
    assert ApiKey.find(raw) is None
    (entry,) = LogEntry.objects.filter(object_id=str(key.pk), content_type__model="apikey")
    assert (entry.user, entry.action_flag, entry.get_change_message()) == (admin_user, CHANGE, "Revoked.")


@pytest.fixture
def redis_cache(settings):
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        if os.environ.get("CI"):
            pytest.fail("Redis is not running on 127.0.0.1:6379; .ci/run starts it")
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    caches["default"].clear()
    yield caches["default"], client
    caches["default"].clear()


def test_the_redis_script_counts_as_djangos_cache_does_and_expires_with_the_window(redis_cache):
    cache, client = redis_cache

    counted = [_count("omen:throttle:k1:60", 60) for _ in range(3)]

    assert counted == [1, 2, 3]
    assert cache.get("omen:throttle:k1:60") == 3  # Django's cache API reads the script's counter
    assert 0 < client.ttl(cache.make_and_validate_key("omen:throttle:k1:60")) <= 61
    cache.incr("omen:throttle:k1:60")  # and the script goes on from what the cache API wrote
    assert _count("omen:throttle:k1:60", 60) == 5
