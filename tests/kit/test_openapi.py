"""One OpenAPI document for the suite, generated from the services' schemas."""

from __future__ import annotations

from gateway.web.openapi import merge_documents


def test_the_gateway_document_lists_every_service(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    document = response.json
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    for service in ("auth", "polls", "petitions"):
        assert f"/api/{service}/healthz" in paths
    assert "/api/auth/.well-known/jwks.json" in paths
    assert "x-unavailable-services" not in document["info"]


def test_errors_are_documented_as_problem_json(client):
    document = client.get("/api/openapi.json").json
    components = document["components"]["responses"]
    documented = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":  # shared by the path's operations
                continue
            for status, response in operation.get("responses", {}).items():
                if "$ref" in response:
                    response = components[response["$ref"].rsplit("/", 1)[1]]
                if status == "default" or int(status) >= 400:
                    assert list(response.get("content", {})) == ["application/problem+json"], (
                        method,
                        path,
                        status,
                    )
                    documented += 1
                elif int(status) < 300 and "content" in response:
                    assert "application/problem+json" not in response["content"], (method, path)
    assert documented > 100


def test_every_operation_documents_its_success(client):
    document = client.get("/api/openapi.json").json
    undocumented = [
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if method != "parameters"
        and not any(str(status)[0] in "23" for status in operation.get("responses", {}))
    ]
    assert undocumented == []
    sign = document["paths"]["/api/petitions/petitions/{petition_id}/signatures"]["post"]
    assert sign["requestBody"]["required"] is False  # every field of it is optional
    login = document["paths"]["/api/auth/login"]["post"]
    assert login["requestBody"]["required"] is True


def test_every_reference_resolves(client):
    document = client.get("/api/openapi.json").json
    refs = []

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    refs.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(document)
    assert refs
    for ref in refs:
        kind, name = ref.removeprefix("#/components/").split("/", 1)
        assert name in document["components"][kind], ref


def test_equal_component_names_from_two_services_do_not_collide():
    def doc(description):
        return {
            "paths": {
                "/x": {"get": {"responses": {"200": {"$ref": "#/components/schemas/Thing"}}}}
            },
            "components": {"schemas": {"Thing": {"description": description}}},
        }

    merged = merge_documents({"a": doc("A"), "b": doc("B")}, {"a": "/api/a", "b": "/api/b"})
    assert merged["components"]["schemas"]["a.Thing"]["description"] == "A"
    assert merged["components"]["schemas"]["b.Thing"]["description"] == "B"
    assert merged["paths"]["/api/b/x"]["get"]["responses"]["200"]["$ref"].endswith("b.Thing")


def test_the_docs_page_renders(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert "/api/petitions/healthz" in response.get_data(as_text=True)
