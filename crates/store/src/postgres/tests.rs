//! The PostgreSQL store against a real server (`TAILOR_EXTERNAL_TESTS=1`; the server comes
//! from `tailor_testkit::postgres`): the conformance suite, schema versions, and what a
//! caller sees when the server goes away and comes back.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

use tailor_testkit::postgres::PgServer;

use super::*;
use crate::prelude::*;
use crate::{StoreErrorKind, conformance::message};

/// One server for the tests that only need a fresh schema each.
fn shared() -> &'static Mutex<PgServer> {
    static SERVER: OnceLock<Mutex<PgServer>> = OnceLock::new();
    SERVER.get_or_init(|| Mutex::new(PgServer::start().expect("start PostgreSQL")))
}

/// A fresh schema on the shared server, and the URL to reach it.
fn fresh_schema() -> (String, String) {
    static N: AtomicU32 = AtomicU32::new(0);
    let url = shared().lock().expect("server").url("postgres");
    (url, format!("t{}", N.fetch_add(1, Ordering::Relaxed)))
}

#[test]
fn conformance() {
    if !tailor_testkit::external() {
        return;
    }
    crate::conformance::run_all(|| {
        let (url, schema) = fresh_schema();
        (PgStore::open_in_schema(&url, &schema).expect("open"), ())
    });
}

#[test]
fn reopening_keeps_data_and_refuses_a_newer_schema() {
    if !tailor_testkit::external() {
        return;
    }
    let (url, schema) = fresh_schema();
    {
        let s = PgStore::open_in_schema(&url, &schema).unwrap();
        s.set_meta("k", "v").unwrap();
        s.append(&[message("m1", "track", Some("u1"), None)])
            .unwrap();
    }
    let s = PgStore::open_in_schema(&url, &schema).unwrap();
    assert_eq!(s.get_meta("k").unwrap().as_deref(), Some("v"));
    assert_eq!(s.event_count().unwrap(), 1);
    drop(s);
    shared()
        .lock()
        .unwrap()
        .psql(
            "postgres",
            &format!("UPDATE {schema}.tailor_schema SET version = 99 WHERE component = 'events'"),
        )
        .unwrap();
    assert!(matches!(
        PgStore::open_in_schema(&url, &schema),
        Err(StoreError::TooNew { found: 99, .. })
    ));
}

/// Sequence numbers follow commit order even when appends come from several threads, so
/// a reader that saw seq N has seen every event below it.
#[test]
fn concurrent_appends_get_sequence_numbers_in_commit_order() {
    if !tailor_testkit::external() {
        return;
    }
    let (url, schema) = fresh_schema();
    let s = std::sync::Arc::new(PgStore::open_in_schema(&url, &schema).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    let batch: Vec<_> = (0..10)
                        .map(|j| message(&format!("m{t}-{i}-{j}"), "track", Some("u"), None))
                        .collect();
                    s.append(&batch).unwrap();
                }
            })
        })
        .collect();
    let mut seen = 0;
    let mut last = 0;
    while seen < 1000 {
        for e in s.events_after(last, 1000).unwrap() {
            assert!(e.seq > last);
            last = e.seq;
            seen += 1;
        }
    }
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(s.event_count().unwrap(), 1000);
}

/// A lost server is a typed error (`Unavailable`), never a panic or a hang; when it comes
/// back, the same store works again without being reopened.
#[test]
fn a_lost_server_is_unavailable_and_the_store_recovers() {
    if !tailor_testkit::external() {
        return;
    }
    let mut server = PgServer::start().expect("start PostgreSQL");
    let s = PgStore::open(&server.url("postgres")).unwrap();
    s.append(&[message("before", "track", Some("u1"), None)])
        .unwrap();
    server.stop();
    let e = s
        .append(&[message("during", "track", Some("u1"), None)])
        .unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Unavailable, "{e}");
    assert_eq!(s.ping().unwrap_err().kind(), StoreErrorKind::Unavailable);
    server.start_again().unwrap();
    s.append(&[message("after", "track", Some("u1"), None)])
        .unwrap();
    let ids: Vec<String> = s
        .events_after(0, 10)
        .unwrap()
        .into_iter()
        .map(|e| e.message.message_id)
        .collect();
    assert_eq!(ids, ["before", "after"]);
}

#[test]
fn a_bad_url_or_no_server_is_a_clear_error() {
    let e = PgStore::open("not a url").err().expect("refused");
    assert!(e.to_string().contains("URL"), "{e}");
    // Nothing listens on port 1.
    let e = PgStore::open("postgres://tailor@127.0.0.1:1/postgres")
        .err()
        .expect("refused");
    assert_eq!(e.kind(), StoreErrorKind::Unavailable, "{e}");
}

/// One node per database until several nodes are built: a second store on the same
/// database (schema) refuses to open while the first is open, and opens once it is closed.
#[test]
fn a_second_node_on_one_database_is_refused() {
    if !tailor_testkit::external() {
        return;
    }
    let (url, schema) = fresh_schema();
    let first = PgStore::open_in_schema(&url, &schema).unwrap();
    let started = std::time::Instant::now();
    let e = PgStore::open_in_schema(&url, &schema)
        .err()
        .expect("refused");
    assert!(e.to_string().contains("another Tailor node"), "{e}");
    assert!(started.elapsed() >= NODE_LOCK_WAIT);
    drop(first);
    PgStore::open_in_schema(&url, &schema).expect("the lock was released");
}

#[test]
fn a_decision_log_from_migration_1_upgrades_in_place() {
    if !tailor_testkit::external() {
        return;
    }
    let (url, schema) = fresh_schema();
    drop(PgStore::open_in_schema(&url, &schema).unwrap());
    // Back to the decision log's first layout: a JSON view per decision and a row per
    // counted show, as a database made before migration 2 holds them.
    let legacy = r#"{"modelVersion":"m1","profile":"p_7","placements":{"home.hero":{"kind":"hero","chosen":"hero-run","shown":["hero-run"],"propensity":0.5,"explanation":"Because you viewed Shoes"}},"context":{"productId":"sku-1"},"reason":null}"#;
    shared()
        .lock()
        .unwrap()
        .psql(
            "postgres",
            &format!(
                "SET search_path = {schema};
                 DROP TABLE shown_totals; DROP TABLE decision_days;
                 ALTER TABLE decisions ADD COLUMN shown TEXT NOT NULL DEFAULT '[]';
                 CREATE TABLE decision_shown (item TEXT NOT NULL, decision_id TEXT NOT NULL);
                 INSERT INTO decisions (id, at, user_id, anonymous_id, personalized, body, shown)
                   VALUES ('d_old1', 5, 'ada', NULL, true, '{legacy}', '[\"hero-run\"]');
                 INSERT INTO decision_shown VALUES ('hero-run', 'd_old1'), ('hero-run', 'd_gone');
                 UPDATE tailor_schema SET version = 1 WHERE component = 'decisions';"
            ),
        )
        .unwrap();
    let s = PgStore::open_in_schema(&url, &schema).unwrap();
    let (d, _) = s
        .decision("d_old1")
        .unwrap()
        .expect("the old decision reads");
    assert_eq!(d.model_version, "m1");
    assert_eq!(d.profile, Some(7));
    assert_eq!(d.product.as_deref(), Some("sku-1"));
    assert_eq!(d.shown(), ["hero-run"]);
    assert_eq!(d.counted().collect::<Vec<_>>(), ["hero-run"]);
    assert_eq!(s.shown_counts().unwrap(), [("hero-run".to_string(), 2)]);
    // Erasing Ada takes her decision's count off; the other count stays.
    let ada = crate::PersonKeys {
        profile_ids: vec![7],
        ids: vec!["ada".to_string()],
        at: 10,
    };
    assert_eq!(s.erase_person(&ada).unwrap().decisions, 1);
    assert_eq!(s.shown_counts().unwrap(), [("hero-run".to_string(), 1)]);
}
