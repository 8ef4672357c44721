"""Every API operation takes the query parameters its schema documents, and refuses any other, or
one given twice, with a 400 naming it (utilities/query_parameters.py).

Driven by the live schema, so an operation added later is checked too, and a parameter that an
operation reads but its schema leaves out (or documents but refuses) fails here."""

import re

import pytest

from omen_site.api.keys import ADMIN, ApiKey

pytestmark = pytest.mark.django_db

UNKNOWN = "no_such_parameter"
REFUSED = {"unknown_parameter", "repeated_parameter"}


def operations(client) -> list[tuple[str, str, list[str]]]:
    document = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    found = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            if path.startswith("/api/v1/") and isinstance(operation, dict) and "responses" in operation:
                names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
                # An id no row has: the parameters are checked before the view looks anything up.
                found.append((method, re.sub(r"\{[^}]+\}", "1", path), names))
    return found


@pytest.fixture
def admin_api(client):
    _, raw = ApiKey.issue("parameters", [ADMIN], throttle_rate="1000000/min")
    client.defaults["HTTP_X_API_KEY"] = raw
    return client


def call(client, method: str, path: str, query: str):
    return client.generic(method.upper(), f"{path}?{query}", data=b"{}", content_type="application/json")


def refusals(response) -> dict[str, str]:
    if response.status_code != 400:
        return {}
    return {d["field"]: d["code"] for d in response.json()["details"] if d["code"] in REFUSED}


def test_every_operation_refuses_a_parameter_it_does_not_take_naming_it(admin_api):
    checked = operations(admin_api)
    assert len(checked) >= 20

    answers = {(method, path): call(admin_api, method, path, f"{UNKNOWN}=1") for method, path, _ in checked}

    assert {key: refusals(r) for key, r in answers.items()} == {key: {UNKNOWN: "unknown_parameter"} for key in answers}
    message = answers["get", "/api/v1/signals/"].json()["details"][0]["message"]
    assert "takes" in message and "source" in message and "cursor" in message


def test_every_operation_takes_each_parameter_its_schema_names_once_and_not_twice(admin_api):
    documented = [(method, path, name) for method, path, names in operations(admin_api) for name in names]
    assert {"detail", "latest", "since", "cursor", "limit", "after", "window"} <= {name for *_, name in documented}

    for method, path, name in documented:
        once = call(admin_api, method, path, f"{name}=1")
        twice = call(admin_api, method, path, f"{name}=1&{name}=2")

        assert refusals(once) == {}, (method, path, name, once.content)
        # A 400 naming it: as given twice, or for a value read before (format=1 is no format).
        assert twice.status_code == 400, (method, path, name, twice.content)
        assert name in [d["field"] for d in twice.json()["details"]], (method, path, name, twice.content)


def test_a_misspelt_filter_no_longer_answers_the_unfiltered_list(admin_api):
    response = admin_api.get("/api/v1/signals/?sourc=polymarket")

    assert response.status_code == 400
    assert response.json()["details"][0]["field"] == "sourc"


def test_a_list_does_not_take_the_detail_of_one_signal(admin_api):
    assert refusals(admin_api.get("/api/v1/signals/?detail=full")) == {"detail": "unknown_parameter"}


def test_a_filter_given_twice_is_refused_rather_than_read_as_its_last_value(admin_api):
    response = admin_api.get("/api/v1/signals/?source=bogus&source=polymarket")
    assert refusals(response) == {"source": "repeated_parameter"}


@pytest.mark.parametrize(
    "path", ["/api/v1/stats/?window=7d", "/api/v1/ledger/frames/?after=0", "/api/v1/signals/?source=polymarket"]
)
def test_a_head_takes_the_parameters_of_its_get(admin_api, path):
    assert admin_api.head(path).status_code == 200


def test_a_method_the_operation_does_not_allow_is_a_405_whatever_its_parameters(admin_api):
    assert admin_api.put(f"/api/v1/stats/?{UNKNOWN}=1").status_code == 405
    assert admin_api.put(f"/api/v1/signals/?{UNKNOWN}=1").status_code == 405
    assert admin_api.options(f"/api/v1/signals/?{UNKNOWN}=1").status_code == 200
