//! `tailor serve --database-url postgres://…` against a real PostgreSQL server (started by
//! `tailor_testkit::postgres`; `TAILOR_EXTERNAL_TESTS=1`): the whole engine on PostgreSQL,
//! acknowledged events surviving a restart and `kill -9`, erasure reaching the database
//! (rows, and after `VACUUM FULL` and a checkpoint, the table and index files), and
//! readiness following PostgreSQL.

mod common;

use common::{Server, byte_scan};
use serde_json::{Value, json};
use tailor_testkit::postgres::PgServer;

#[tokio::test(flavor = "multi_thread")]
async fn serve_on_postgres_ingests_decides_restarts_and_erases() {
    if !tailor_testkit::external() {
        return;
    }
    let pg = PgServer::start().expect("start PostgreSQL");
    let url = pg.create_database("shop").expect("a database");
    let dir = tempfile::tempdir().unwrap();
    let env = [("TAILOR_DATABASE_URL", url.clone())];
    let mut s = Server::start_with(dir.path(), &env).await;

    let products = json!([
        {"id": "p1", "name": "Kettle", "category": "Home/Kitchen", "price": 30},
        {"id": "p2", "name": "Pan", "category": "Home/Kitchen", "price": 40}
    ]);
    assert_eq!(s.admin_put("/v1/catalog/products", &products).await.0, 200);
    let person = "pg-erase-me-7f3a";
    let batch: Vec<Value> = (0..40)
        .map(|i| {
            json!({"type": "track", "userId": person, "event": "Product Viewed",
                "messageId": format!("pg-{i}"), "properties": {"product_id": format!("p{}", 1 + i % 2)}})
        })
        .collect();
    let (status, reply) = s.post("/v1/batch", &json!({"batch": batch})).await;
    assert_eq!(status, 200, "{reply}");
    let (status, decision) = s
        .post(
            "/v1/decide",
            &json!({"userId": person, "placements": ["recs.home", "home.hero"]}),
        )
        .await;
    assert_eq!(status, 200, "{decision}");
    let decision_id = decision["decisionId"]
        .as_str()
        .expect("a decision id")
        .to_string();
    assert_eq!(s.profile(person).await["productViews"], 40);

    // A clean restart, then a hard one: the log, the catalog and the decision are in
    // PostgreSQL, and nothing was written to the data directory but generated keys.
    s.stop();
    let mut s = Server::start_with(dir.path(), &env).await;
    assert_eq!(s.profile(person).await["productViews"], 40);
    let more: Vec<Value> = (40..50)
        .map(|i| json!({"type": "track", "userId": person, "event": "Product Viewed", "messageId": format!("pg-{i}")}))
        .collect();
    assert_eq!(s.post("/v1/batch", &json!({"batch": more})).await.0, 200);
    s.kill_9();
    let s = Server::start_with(dir.path(), &env).await;
    assert_eq!(s.profile(person).await["productViews"], 50, "after kill -9");
    assert_eq!(s.admin_get("/v1/catalog/products/p2").await.0, 200);
    let (status, logged) = s.admin_get(&format!("/v1/decisions/{decision_id}")).await;
    assert_eq!(status, 200, "{logged}");
    assert!(
        !dir.path().join("tailor.db").exists(),
        "no SQLite store beside PostgreSQL"
    );
    let count = |sql: &str| pg.psql("shop", sql).expect("psql");
    assert_eq!(
        count(&format!(
            "SELECT count(*) FROM events WHERE user_id = '{person}'"
        )),
        "50"
    );

    // Erasure reaches every table in PostgreSQL; `purge` vacuums them and checkpoints, so
    // the table and index files no longer hold the person. The write-ahead log still does
    // until its segments are recycled and overwritten (README, "Erasure on PostgreSQL").
    let (status, erased) = s.admin_delete(&format!("/v1/profiles/{person}")).await;
    assert_eq!(status, 200, "{erased}");
    for table in ["events", "decisions"] {
        assert_eq!(
            count(&format!(
                "SELECT count(*) FROM {table} WHERE user_id = '{person}'"
            )),
            "0",
            "{table}"
        );
    }
    assert_eq!(count("SELECT count(*) FROM profiles"), "0");
    assert_eq!(
        count(&format!(
            "SELECT count(*) FROM identities WHERE identity LIKE '%{person}%'"
        )),
        "0"
    );
    // `purge` started VACUUM: the space is free but not zeroed, so the bytes may linger in the
    // table and index files until reused. The operator's step for a byte-level guarantee
    // (README): VACUUM FULL rewrites the tables; after a checkpoint the old files are gone.
    count(&format!("VACUUM FULL {}", tailor_store_personal_tables()));
    count("CHECKPOINT");
    let base = pg.data_dir().join("base");
    assert_eq!(
        byte_scan(&base, &[person]),
        Vec::<String>::new(),
        "table and index files after VACUUM FULL and CHECKPOINT"
    );
    let wal_holds_it = std::fs::read_dir(pg.data_dir().join("pg_wal"))
        .unwrap()
        .filter_map(|e| std::fs::read(e.unwrap().path()).ok())
        .any(|bytes| bytes.windows(person.len()).any(|w| w == person.as_bytes()));
    assert!(
        wal_holds_it,
        "the write-ahead log keeps erased rows until its segments are overwritten (documented)"
    );
}

/// A wrong URL or an unreachable server stops `tailor serve` at start with a clear error
/// that does not print the password.
#[test]
fn an_unreachable_database_is_a_clear_start_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tailor"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path())
        .args([
            "--database-url",
            "postgres://tailor:hunter2@127.0.0.1:1/shop",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot open PostgreSQL at postgres://tailor:***@127.0.0.1:1/shop"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

/// `/healthz` says the process is alive; `/readyz` says whether PostgreSQL answers. While
/// PostgreSQL is down, ingest is refused with 503 (nothing acknowledged, clients retry);
/// when it is back, the same process is ready and stores again, with nothing lost.
#[tokio::test(flavor = "multi_thread")]
async fn readiness_follows_postgres() {
    if !tailor_testkit::external() {
        return;
    }
    let mut pg = PgServer::start().expect("start PostgreSQL");
    let url = pg.create_database("shop").expect("a database");
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_with(dir.path(), &[("TAILOR_DATABASE_URL", url)]).await;
    let get = |path: &str| {
        let r = s.http.get(s.url(path));
        async { s.raw(r).await }
    };
    assert_eq!(get("/readyz").await, (200, json!({"status": "ready"})));
    let event = |id: &str| json!({"type": "track", "userId": "outage", "event": "Product Viewed", "messageId": id});
    assert_eq!(s.post("/v1/track", &event("before")).await.0, 200);

    pg.stop();
    assert_eq!(get("/healthz").await.0, 200, "alive without PostgreSQL");
    assert_eq!(
        get("/readyz").await,
        (
            503,
            json!({"status": "not_ready", "reason": "store_unreachable"})
        )
    );
    let (status, body) = s.post("/v1/track", &event("during")).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "store_unavailable");

    pg.start_again().expect("PostgreSQL back");
    assert_eq!(get("/readyz").await.0, 200);
    // The client's retry of the refused event, then a new one.
    assert_eq!(s.post("/v1/track", &event("during")).await.0, 200);
    assert_eq!(s.post("/v1/track", &event("after")).await.0, 200);
    assert_eq!(s.profile("outage").await["productViews"], 3);
}

/// The tables erasure deletes from (README, "Erasure on PostgreSQL").
fn tailor_store_personal_tables() -> &'static str {
    tailor_store::PERSONAL_TABLES
}
