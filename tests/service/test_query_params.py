"""A query parameter given twice is a 422 naming it; given once, the request goes through."""

from __future__ import annotations

import pytest

from service.query_params import repeated_names


def test_repeated_names_are_found_in_order_and_once_each():
    assert repeated_names(b"offset=1&limit=2&offset=3&limit=4&offset=5&seed=1") == [
        "offset", "limit"]
    assert repeated_names(b"offset=1&limit=2") == []
    assert repeated_names(b"") == []
    assert repeated_names(b"n=&n=") == ["n"]  # blank values count


@pytest.mark.parametrize("path", ["/jobs?offset=1&offset=255.0", "/models?limit=1&limit=2"])
def test_a_repeated_query_parameter_is_refused_with_its_name(client, path):
    response = client.get(path)
    assert response.status_code == 422, response.text
    name = path.split("?")[1].split("=")[0]
    body = response.json()
    assert body["errors"] == [{"loc": ["query", name], "msg": "given more than once; send it once",
                               "type": "repeated_parameter"}]
    assert f"query.{name}" in body["detail"]


def test_single_values_still_reach_the_route(client):
    response = client.get("/jobs?offset=0&limit=5")
    assert response.status_code == 200, response.text
    assert response.json()["limit"] == 5
