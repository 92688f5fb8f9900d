//! `POST /v1/decide` and `/v1/placements` on the wire, in-process: malformed requests get a
//! typed 400 or 401 naming the problem; an unknown product in context falls back and says
//! so; invalid placement configuration is refused whole. (What `decide` answers:
//! `crates/engine/tests/decide.rs`.)

use serde_json::{Value, json};
use tailor_testkit::{TestApp, WRITE_KEY};

async fn store(s: &TestApp) {
    let mut products = Vec::new();
    for (cat, n, base) in [
        ("Shoes/Running", 6, 80.0),
        ("Shoes/Trail", 4, 110.0),
        ("Home/Kitchen", 6, 30.0),
        ("Beauty/Makeup", 5, 20.0),
    ] {
        for i in 0..n {
            let id = format!("{}-{i}", cat.replace('/', "-").to_lowercase());
            products.push(json!({"id": id, "name": format!("{cat} {i}"), "category": cat, "price": base + i as f64,
                "stock": if i == 1 { 0 } else { 10 }}));
        }
    }
    assert_eq!(
        s.admin_put("/v1/catalog/products", &Value::Array(products))
            .await
            .0,
        200
    );
}

async fn decide(s: &TestApp, body: Value) -> (u16, Value) {
    s.post_to("/v1/decide")
        .bearer(WRITE_KEY)
        .json(&body)
        .send()
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn placements_are_listed_with_the_write_key() {
    let s = TestApp::start().await;
    let (status, list) = s.get("/v1/placements").bearer(WRITE_KEY).send().await;
    assert_eq!(status, 200);
    assert_eq!(list["placements"].as_array().unwrap().len(), 9);
    let custom = json!([
        {"id": "recs.top3", "kind": "recommendations", "source": "visitor", "limit": 3},
        {"id": "home.hero.vip", "kind": "hero", "condition": {"orders": {"$gte": 5}}}
    ]);
    assert_eq!(s.admin_put("/v1/placements", &custom).await.0, 200);
    let (_, list) = s.admin_get("/v1/placements").await;
    assert_eq!(list["placements"].as_array().unwrap().len(), 11);
    assert_eq!(s.admin_delete("/v1/placements/recs.top3").await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_decide_input_gets_clear_errors() {
    let s = TestApp::start().await;
    store(&s).await;
    let cases = [
        (
            json!({"anonymousId": "a", "placements": ["home.banner"]}),
            400,
            "invalid_request",
            "home.banner",
        ),
        (
            json!({"anonymousId": "a", "placements": []}),
            400,
            "invalid_request",
            "at least one",
        ),
        (
            json!({"placements": ["home.hero"]}),
            400,
            "no_user_anon_id",
            "userId",
        ),
        (
            json!({"anonymousId": "a", "placements": "home.hero"}),
            400,
            "invalid_request",
            "array",
        ),
        (
            json!({"anonymousId": "a", "placements": ["home.hero"], "context": []}),
            400,
            "invalid_request",
            "context",
        ),
        (
            json!({"anonymousId": ["a"], "placements": ["home.hero"]}),
            400,
            "invalid_request",
            "anonymousId",
        ),
        (
            json!({"anonymousId": "a", "placements": ["rank.listing"],
                "context": {"productIds": (0..5_001).map(|i| format!("p-{i}")).collect::<Vec<_>>()}}),
            400,
            "too_many_products",
            "at most 5000",
        ),
        (
            json!({"anonymousId": "a", "placements": ["rank.listing"], "context": {"productIds": "p-1"}}),
            400,
            "invalid_request",
            "productIds",
        ),
    ];
    for (body, status, code, needle) in cases {
        let (got, reply) = decide(&s, body.clone()).await;
        assert_eq!(
            (got, reply["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}: {reply}"
        );
        assert!(
            reply["error"]["message"].as_str().unwrap().contains(needle),
            "{body}: {reply}"
        );
    }
    let (status, _) = s
        .post_to("/v1/decide")
        .bearer(WRITE_KEY)
        .body("{nope")
        .send()
        .await;
    assert_eq!(status, 400);
    let (status, _) = s
        .post_to("/v1/decide")
        .json(&json!({"anonymousId": "a", "placements": ["home.hero"]}))
        .send()
        .await;
    assert_eq!(status, 401);
    // The longest list allowed, with 40-byte ids, fits the body limit…
    let listed: Vec<String> = (0..5_000).map(|i| format!("{i:0>40}")).collect();
    let (status, d) = decide(&s, json!({"anonymousId": "a", "placements": ["rank.listing"], "context": {"productIds": listed}})).await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(
        d["decisions"]["rank.listing"]["ranking"]
            .as_array()
            .map(Vec::len),
        Some(5_000)
    );
    // …and a body past it is refused before parsing.
    let listed: Vec<String> = (0..5_000).map(|i| format!("{i:0>60}")).collect();
    let (status, err) = decide(&s, json!({"anonymousId": "a", "placements": ["rank.listing"], "context": {"productIds": listed}})).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (413, Some("payload_too_large")),
        "{err}"
    );
    // An unknown product in context falls back to popular products, and says so.
    let (status, d) = decide(&s, json!({"anonymousId": "a", "placements": ["recs.product"], "context": {"productId": "ghost"}})).await;
    assert_eq!(status, 200);
    assert!(
        d["decisions"]["recs.product"]["explanation"]
            .as_str()
            .unwrap()
            .contains("not in the catalog"),
        "{d}"
    );
    // Invalid placement configuration is refused whole.
    let (status, err) = s
        .admin_put(
            "/v1/placements",
            &json!([
                {"id": "ok", "kind": "hero"},
                {"id": "bad", "kind": "hero", "condition": {"orders": {"$between": [1, 2]}}},
                {"id": "worse", "kind": "carousel"}
            ]),
        )
        .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["details"].as_array().unwrap().len(), 2);
    let (_, list) = s.admin_get("/v1/placements").await;
    assert!(
        list["placements"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["id"] != "ok")
    );
}

/// `GET /v1/decisions/{id}`: the logged decision with its rewards joined, in the API's shape;
/// an unknown id is a 404. (What is logged: `crates/engine/tests/decide.rs`.)
#[tokio::test(flavor = "multi_thread")]
async fn a_logged_decision_is_served_with_its_rewards() {
    let s = TestApp::start().await;
    store(&s).await;
    let (status, d) = decide(
        &s,
        json!({"userId": "rob", "placements": ["recs.product"], "context": {"productId": "shoes-running-0"}}),
    )
    .await;
    assert_eq!(status, 200, "{d}");
    let id = d["decisionId"].as_str().unwrap().to_string();
    let (status, r) = s
        .post(
            "/v1/track",
            &json!({"userId": "rob", "event": "Promotion Clicked", "properties": {"decisionId": id}}),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    // The decision log writes in batches on its own thread.
    s.kit.settle().await;
    let (status, logged) = s.admin_get(&format!("/v1/decisions/{id}")).await;
    assert_eq!(status, 200, "{logged}");
    assert_eq!(logged["decisionId"], id.as_str());
    assert_eq!(logged["modelVersion"], "rules-2");
    assert_eq!(logged["context"]["productId"], "shoes-running-0");
    assert_eq!(
        logged["rewards"][0]["event"], "Promotion Clicked",
        "{logged}"
    );
    assert_eq!(s.admin_get("/v1/decisions/nope").await.0, 404);
}
