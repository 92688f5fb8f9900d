//! What needs the real binary: acknowledged writes survive `kill -9` of `tailor serve`;
//! the keys it generates and its data directory are readable by its user only.
//! Everything else the API does is tested in-process: `crates/server/tests` (the wire) and
//! `crates/engine/tests` (the logic), through `tailor-testkit`.

mod common;

use common::{ADMIN_KEY, SERVER_KEY, Server};
use serde_json::{Value, json};

/// Every 200 is durable: kill -9 right after the acknowledgements, restart, all there.
#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_events_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start(dir.path()).await;
    let mut tasks = Vec::new();
    for client in 0..8 {
        let http = s.http.clone();
        let url = s.url("/v1/batch");
        tasks.push(tokio::spawn(async move {
            let mut acked = 0;
            for b in 0..10 {
                let batch: Vec<Value> = (0..50)
                    .map(|i| json!({"type": "track", "userId": format!("durable-{client}"), "event": "Product Viewed",
                        "messageId": format!("d-{client}-{b}-{i}"), "properties": {"product_id": format!("p{i}")}}))
                    .collect();
                let r = http.post(&url).basic_auth(SERVER_KEY, Some("")).json(&json!({"batch": batch})).send().await.unwrap();
                assert_eq!(r.status(), 200);
                acked += 50;
            }
            acked
        }));
    }
    let mut acked = 0;
    for t in tasks {
        acked += t.await.unwrap();
    }
    assert_eq!(acked, 4000);
    s.kill_9();
    let s = Server::start(dir.path()).await;
    for client in 0..8 {
        let p = s.profile(&format!("durable-{client}")).await;
        assert_eq!(p["productViews"], 500, "client {client} after kill -9: {p}");
    }
    // Re-sending everything after the restart stores nothing twice.
    let batch: Vec<Value> = (0..50)
        .map(|i| json!({"type": "track", "userId": "durable-0", "event": "Product Viewed", "messageId": format!("d-0-0-{i}")}))
        .collect();
    let (_, reply) = s.post("/v1/batch", &json!({"batch": batch})).await;
    assert_eq!(reply["duplicates"], 50);
}

/// The catalog, its content and placement configuration are written through: a hard kill
/// right after the acknowledgements loses none of them.
#[tokio::test(flavor = "multi_thread")]
async fn catalog_and_placements_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start(dir.path()).await;
    let products = json!([
        {"id": "p3", "name": "Pan", "category": "Home/Kitchen", "price": 40}
    ]);
    assert_eq!(s.admin_put("/v1/catalog/products", &products).await.0, 200);
    let content = json!([
        {"id": "promo-cart", "kind": "promotion", "placements": ["promo.banner"], "title": "10% off your cart",
         "targeting": {"stages": ["evaluation"], "start_at": "2026-01-01T00:00:00Z", "end_at": "2027-01-01T00:00:00Z", "max_impressions": 1000}}
    ]);
    assert_eq!(s.admin_put("/v1/catalog/content", &content).await.0, 200);
    let custom = json!([
        {"id": "recs.top3", "kind": "recommendations", "source": "visitor", "limit": 3},
        {"id": "home.hero.vip", "kind": "hero", "condition": {"orders": {"$gte": 5}}}
    ]);
    assert_eq!(s.admin_put("/v1/placements", &custom).await.0, 200);
    s.kill_9();
    let s = Server::start(dir.path()).await;
    assert_eq!(s.admin_get("/v1/catalog/products/p3").await.0, 200);
    assert_eq!(
        s.admin_get("/v1/catalog/content/promo-cart").await.1["targeting"]["max_impressions"],
        1000
    );
    let (_, list) = s.admin_get("/v1/placements").await;
    assert_eq!(list["placements"].as_array().unwrap().len(), 11);
    let (status, _) = s
        .raw(
            s.http
                .delete(s.url("/v1/placements/recs.top3"))
                .bearer_auth(ADMIN_KEY),
        )
        .await;
    assert_eq!(status, 200);
}

/// Every file of the data directory, with its mode.
#[cfg(unix)]
fn modes(dir: &std::path::Path) -> Vec<(String, u32)> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let mode = e.metadata().unwrap().permissions().mode() & 0o777;
            (e.file_name().to_string_lossy().into_owned(), mode)
        })
        .collect();
    files.sort();
    files
}

/// Generated keys and the identity secret go to a file only Tailor's user can read, in a
/// directory only it can enter; a directory a careless copy loosened is tightened at start.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn generated_secrets_and_the_data_directory_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("data");
    // The harness sets every key but the identity secret: that one is generated.
    let mut s = Server::start(&data).await;
    let (status, r) = s
        .post(
            "/v1/identify",
            &json!({"userId": "private", "traits": {"email": "p@example.com"}}),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    let keys = std::fs::read_to_string(data.join("generated-keys.env")).unwrap();
    assert!(keys.contains("TAILOR_IDENTITY_SECRET="), "{keys}");
    let files = modes(&data);
    assert!(files.iter().any(|(f, _)| f == "tailor.db-wal"), "{files:?}");
    assert!(files.iter().all(|(_, m)| *m == 0o600), "{files:?}");
    s.stop();
    // Loosened (an older version, a copy, a umask): tightened on the next start.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    for (file, _) in modes(&data) {
        std::fs::set_permissions(data.join(file), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let s = Server::start(&data).await;
    assert_eq!(mode(&data), 0o700);
    let files = modes(&data);
    assert!(files.iter().all(|(_, m)| *m == 0o600), "{files:?}");
    assert_eq!(
        s.profile("private").await["traits"]["email"],
        "p@example.com"
    );
}
