//! Export and erasure end to end over loopback: the export holds everything about a person;
//! after `DELETE /v1/profiles/{id}` a byte scan of the whole data directory finds none of
//! their ids, e-mail or traits, what the product statistics learned from them is gone, late
//! events are refused, and the audit log records the erasure without personal data.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{ADMIN_KEY, Server, WRITE_KEY};
use serde_json::{Value, json};

const USER: &str = "user-zq81-erase";
const ANON: &str = "anon-zq81-erase";
const EMAIL: &str = "zq81.erase@example.org";
const NAME: &str = "Quentin Zq81-Erasable";
const PHONE: &str = "+44 7700 981234";

/// Every string that identifies the person.
const PERSONAL: [&str; 5] = [USER, ANON, EMAIL, NAME, PHONE];

async fn send(s: &Server, path: &str, body: Value) -> Value {
    let (status, reply) = s.post(path, &body).await;
    assert_eq!(status, 200, "{path}: {reply}");
    reply
}

async fn admin(s: &Server, method: reqwest::Method, path: &str) -> (u16, Value) {
    s.raw(s.http.request(method, s.url(path)).bearer_auth(ADMIN_KEY))
        .await
}

/// Files in `dir` (recursively) that contain any of `needles`, with the needle.
fn byte_scan(dir: &Path, needles: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    let mut files = 0;
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            files += 1;
            let bytes = std::fs::read(&path).unwrap();
            for needle in needles {
                if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                    found.push(format!("{} contains {needle:?}", path.display()));
                }
            }
        }
    }
    assert!(files >= 2, "the scan saw the database files");
    found
}

async fn first_recs(s: &Server, product: &str) -> Vec<(String, String)> {
    let (status, d) = s
        .raw(s.http.post(s.url("/v1/decide")).bearer_auth(WRITE_KEY).json(
            &json!({"anonymousId": "bystander", "placements": ["recs.product"], "context": {"productId": product}}),
        ))
        .await;
    assert_eq!(status, 200, "{d}");
    d["decisions"]["recs.product"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["product"]["id"].as_str().unwrap().to_string(),
                i["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn export_then_erasure_reaches_every_copy() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start(dir.path()).await;
    let products: Vec<Value> = ["solo-a", "solo-b", "shared-1", "shared-2"]
        .iter()
        .map(|id| json!({"id": id, "name": format!("Product {id}"), "category": "Misc/Things", "price": 10.0}))
        .collect();
    assert_eq!(
        s.admin_put("/v1/catalog/products", &Value::Array(products))
            .await
            .0,
        200
    );
    let promo = json!([{"id": "promo-all", "kind": "promotion", "placements": ["promo.banner"], "title": "10% off"}]);
    assert_eq!(s.admin_put("/v1/catalog/content", &promo).await.0, 200);

    // Other shoppers: their data must survive.
    for i in 0..4 {
        for p in ["shared-1", "shared-2"] {
            send(&s, "/v1/track", json!({"anonymousId": format!("other-{i}"), "event": "Product Viewed", "properties": {"product_id": p}})).await;
        }
    }
    // The person: browses anonymously (the only one to view solo-a then solo-b), consents,
    // logs in with traits, buys, and is shown decisions.
    for p in ["solo-a", "solo-b", "shared-1"] {
        send(&s, "/v1/track", json!({"anonymousId": ANON, "event": "Product Viewed", "properties": {"product_id": p}})).await;
    }
    send(&s, "/v1/track", json!({"anonymousId": ANON, "event": "Segment Consent Preference Updated",
        "context": {"consent": {"categoryPreferences": {"personalization": true, "advertising": false}}}})).await;
    send(
        &s,
        "/v1/identify",
        json!({"anonymousId": ANON, "userId": USER,
        "traits": {"email": EMAIL, "name": NAME, "phone": PHONE}}),
    )
    .await;
    let (status, d) = s
        .raw(
            s.http
                .post(s.url("/v1/decide"))
                .bearer_auth(WRITE_KEY)
                .json(&json!({"userId": USER, "placements": ["promo.banner", "recs.home"]})),
        )
        .await;
    assert_eq!(status, 200, "{d}");
    let decision = d["decisionId"].as_str().unwrap().to_string();
    send(
        &s,
        "/v1/track",
        json!({"userId": USER, "event": "Promotion Clicked",
        "properties": {"promotion_id": "promo-all", "decisionId": decision}}),
    )
    .await;
    send(&s, "/v1/track", json!({"userId": USER, "event": "Order Completed",
        "properties": {"order_id": "o-zq81", "total": 20.0, "products": [{"product_id": "solo-b", "price": 20.0}]}})).await;
    let before = first_recs(&s, "solo-a").await;
    assert_eq!(before[0].0, "solo-b", "learned from the person: {before:?}");

    // Export: everything about them in one document.
    let (status, export) = admin(
        &s,
        reqwest::Method::GET,
        &format!("/v1/profiles/{USER}/export"),
    )
    .await;
    assert_eq!(status, 200, "{export}");
    assert_eq!(export["format"], "tailor-export/1");
    assert_eq!(export["profile"]["traits"]["email"], EMAIL);
    let ids =
        export["profile"]["anonymousIds"].to_string() + &export["profile"]["userIds"].to_string();
    assert!(
        ids.contains(ANON) && ids.contains(USER),
        "{}",
        export["profile"]
    );
    assert_eq!(
        export["events"].as_array().unwrap().len(),
        7,
        "every event of theirs"
    );
    assert_eq!(export["consentHistory"].as_array().unwrap().len(), 1);
    assert_eq!(
        export["consentHistory"][0]["categoryPreferences"]["advertising"],
        false
    );
    let decisions = export["decisions"].as_array().unwrap();
    assert!(
        decisions
            .iter()
            .any(|d| d["decisionId"] == decision.as_str()),
        "the decision shown to them: {decisions:?}"
    );
    let (status, _) = admin(&s, reqwest::Method::GET, "/v1/profiles/nobody/export").await;
    assert_eq!(status, 404);

    // The data directory holds them before the erasure (the scan can see what it looks for).
    assert!(!byte_scan(dir.path(), &PERSONAL).is_empty());

    // Erase.
    let (status, reply) = admin(&s, reqwest::Method::DELETE, &format!("/v1/profiles/{USER}")).await;
    assert_eq!(status, 200, "{reply}");
    let erased = &reply["erased"];
    assert_eq!(erased["events"], 7, "{reply}");
    assert_eq!(erased["profiles"], 1, "{reply}");
    assert!(erased["decisions"].as_u64().unwrap() >= 1, "{reply}");
    assert_eq!(erased["suppressed_ids"], 2, "{reply}");
    let leftovers = byte_scan(dir.path(), &PERSONAL);
    assert!(leftovers.is_empty(), "after erasure: {leftovers:?}");

    // Gone from every API, and from what the store learned about products.
    for id in [USER, ANON] {
        let (status, _) = admin(&s, reqwest::Method::GET, &format!("/v1/profiles/{id}")).await;
        assert_eq!(status, 404);
    }
    let (status, _) = admin(&s, reqwest::Method::DELETE, &format!("/v1/profiles/{USER}")).await;
    assert_eq!(status, 404, "a second erasure finds nobody");
    let after = first_recs(&s, "solo-a").await;
    assert!(
        after
            .iter()
            .all(|(id, reason)| id != "solo-b" || reason.starts_with("From our")),
        "nothing learned from them is left: {after:?}"
    );
    let others = s.profile("other-0").await;
    assert_eq!(
        others["productViews"], 2,
        "other shoppers keep their data: {others}"
    );

    // Late events naming them are refused; decisions for them are not logged with their id.
    let late = send(&s, "/v1/track", json!({"anonymousId": ANON, "event": "Product Viewed", "properties": {"product_id": "solo-a"}})).await;
    assert_eq!(late["accepted"], 0, "{late}");
    assert_eq!(late["suppressed"], 1, "{late}");
    let (status, _) = admin(&s, reqwest::Method::GET, &format!("/v1/profiles/{ANON}")).await;
    assert_eq!(status, 404, "not re-created");
    let (status, d) = s
        .raw(
            s.http
                .post(s.url("/v1/decide"))
                .bearer_auth(WRITE_KEY)
                .json(&json!({"userId": USER, "placements": ["recs.home"]})),
        )
        .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["personalized"], false);
    tokio::time::sleep(Duration::from_millis(300)).await; // the decision log writes every 50 ms

    // The audit log records it, without personal data.
    let (status, audit) = admin(&s, reqwest::Method::GET, "/v1/audit").await;
    assert_eq!(status, 200, "{audit}");
    let erase = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "erase")
        .expect("the erasure is in the audit log");
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"export"),
        "admin reads are audit-logged: {actions:?}"
    );
    assert_eq!(erase["detail"]["events"], 7);
    let text = audit.to_string();
    assert!(PERSONAL.iter().all(|p| !text.contains(p)), "{text}");

    // After a restart: still gone, still nothing in the files.
    s.stop();
    let leftovers = byte_scan(dir.path(), &PERSONAL);
    assert!(leftovers.is_empty(), "after shutdown: {leftovers:?}");
    let s = Server::start(dir.path()).await;
    let (status, _) = admin(&s, reqwest::Method::GET, &format!("/v1/profiles/{USER}")).await;
    assert_eq!(status, 404);
    let late = send(
        &s,
        "/v1/track",
        json!({"userId": USER, "event": "Product Viewed", "properties": {"product_id": "solo-a"}}),
    )
    .await;
    assert_eq!(
        late["suppressed"], 1,
        "suppression survives a restart: {late}"
    );

    // Lifting the suppression lets the person come back.
    let (status, reply) = admin(
        &s,
        reqwest::Method::DELETE,
        &format!("/v1/suppressions/{USER}"),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    let (status, _) = admin(&s, reqwest::Method::DELETE, "/v1/suppressions/never-erased").await;
    assert_eq!(status, 404);
    let back = send(
        &s,
        "/v1/track",
        json!({"userId": USER, "event": "Product Viewed", "properties": {"product_id": "solo-a"}}),
    )
    .await;
    assert_eq!(back["accepted"], 1, "{back}");
}
