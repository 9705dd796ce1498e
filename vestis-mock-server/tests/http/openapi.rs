//! `/openapi.json` and `/__admin/openapi.json` describe exactly the routes
//! and methods the routers serve.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use vestis_mock_server::Config;

use crate::util::{Harness, json};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

#[tokio::test]
async fn the_document_matches_the_served_routes_and_methods() {
    let h = Harness::start(Config::fast()).await;
    let (status, doc) = json(h.raw(Method::GET, "/openapi.json").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(doc["servers"][0]["url"], "/api/v1");
    let paths = doc["paths"].as_object().unwrap();
    let documented: BTreeSet<&str> = paths.keys().map(String::as_str).collect();
    assert_eq!(
        documented,
        BTreeSet::from(["/generate", "/jobs", "/jobs/{id}"])
    );

    let served = served_operations(paths, |method, path| {
        let concrete = path.replace("{id}", "1");
        h.api("t", method, &concrete)
    })
    .await;
    for op in served {
        check_operation(&doc, op);
    }
}

/// Sends every method to every documented path (`{id}` as job 1, a JSON
/// `{}` body) through `request`, and checks that a method is documented
/// exactly where it is routed and served; answers the documented
/// operations that answered JSON.
async fn served_operations(
    paths: &serde_json::Map<String, Value>,
    request: impl Fn(Method, &str) -> reqwest::RequestBuilder,
) -> Vec<&Value> {
    let mut operations = Vec::new();
    for (path, item) in paths {
        for method in METHODS {
            let res = request(
                Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                path,
            )
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
            let served = res.status() != StatusCode::METHOD_NOT_ALLOWED;
            let content_type = res.headers().get("content-type").cloned();
            let json_body = content_type
                .as_ref()
                .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
            if !json_body {
                // The dashboard's page, assets and event stream (never read
                // to its end: it has none while the server runs).
                assert!(served && res.status().is_success(), "{method} {path}");
                assert!(
                    item.get(method).is_some(),
                    "{method} {path} is not documented"
                );
                continue;
            }
            let (_, body) = json(res).await;
            assert_ne!(
                body["error"], "Route not found",
                "{method} {path} is not routed"
            );
            assert_eq!(
                item.get(method).is_some(),
                served,
                "{method} {path}: documented vs served"
            );
            operations.extend(item.get(method));
        }
    }
    operations
}

/// Every operation documents its responses with a schema, and every `$ref` resolves.
fn check_operation(doc: &Value, op: &Value) {
    let responses = op["responses"].as_object().unwrap();
    for status in ["401", "429", "500", "503"] {
        assert!(responses.contains_key(status), "{status} missing");
    }
    let mut refs = Vec::new();
    collect_refs(op, &mut refs);
    for r in refs {
        let name = r.trim_start_matches("#/components/schemas/");
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "unresolved {r}"
        );
    }
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref" {
                    out.push(v.as_str().unwrap_or_default().to_owned());
                } else {
                    collect_refs(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn served_bodies_have_the_documented_required_fields() {
    let h = Harness::start(Config::fast()).await;
    let (_, doc) = json(h.raw(Method::GET, "/openapi.json").send().await.unwrap()).await;
    let required = |schema: &str| -> Vec<String> {
        doc["components"]["schemas"][schema]["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    let id = h.chat("t").await;
    let (_, job) = h.get("t", id).await;
    for field in required("Job") {
        assert!(job.get(&field).is_some(), "Job.{field}");
    }
    let (_, page) = json(h.api("t", Method::GET, "/jobs").send().await.unwrap()).await;
    for field in required("PageMetadata") {
        assert!(
            page["metadata"].get(&field).is_some(),
            "PageMetadata.{field}"
        );
    }
    let (_, err) = json(h.api("t", Method::GET, "/jobs/999").send().await.unwrap()).await;
    let codes = doc["components"]["schemas"]["ErrorBody"]["properties"]["code"]["enum"]
        .as_array()
        .unwrap();
    assert!(codes.contains(&err["code"]));
}

#[tokio::test]
async fn the_admin_document_matches_the_served_admin_routes() {
    let h = Harness::start(Config::fast()).await;
    let (status, doc) = json(
        h.raw(Method::GET, "/__admin/openapi.json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["servers"][0]["url"], "/__admin");
    let paths = doc["paths"].as_object().unwrap();
    assert_eq!(paths.len(), 22, "{:?}", paths.keys());
    served_operations(paths, |method, path| {
        h.raw(method, &format!("/__admin{}", path.replace("{id}", "1")))
    })
    .await;
}
