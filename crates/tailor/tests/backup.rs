//! `tailor backup` beside a running `tailor serve` under ingest, and `tailor restore` of
//! what it wrote: the restored server answers as the original did.

mod common;

use std::path::Path;
use std::process::Command;

use common::{SERVER_KEY, Server};
use serde_json::{Value, json};

fn tailor(args: &[&str], data: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tailor"))
        .args(args)
        .arg("--data")
        .arg(data)
        .output()
        .expect("run tailor")
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_under_ingest_restores_to_an_identical_store() {
    let dir = tempfile::tempdir().unwrap();
    let [data, during, after, restored, restored_during] =
        ["data", "during", "after", "restored", "restored-during"].map(|d| dir.path().join(d));
    let s = Server::start(&data).await;
    let people = 4;
    let mut tasks = Vec::new();
    for client in 0..people {
        let (http, url) = (s.http.clone(), s.url("/v1/batch"));
        tasks.push(tokio::spawn(async move {
            for b in 0..40 {
                let batch: Vec<Value> = (0..50)
                    .map(|i| json!({"type": "track", "userId": format!("backup-{client}"), "event": "Product Viewed",
                        "messageId": format!("b-{client}-{b}-{i}")}))
                    .collect();
                let r = http.post(&url).basic_auth(SERVER_KEY, Some("")).json(&json!({"batch": batch})).send().await.unwrap();
                assert_eq!(r.status(), 200);
            }
        }));
    }
    // While the clients send: the backup must not stop ingest or fail.
    let out = tokio::task::spawn_blocking({
        let (data, during) = (data.clone(), during.clone());
        move || tailor(&["backup", during.to_str().unwrap()], &data)
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for t in tasks {
        t.await.unwrap();
    }
    let out = tailor(&["backup", after.to_str().unwrap()], &data);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let original: Vec<Value> = {
        let mut v = Vec::new();
        for p in 0..people {
            v.push(s.profile(&format!("backup-{p}")).await);
        }
        v
    };
    drop(s);

    let out = tailor(&["restore", after.to_str().unwrap()], &restored);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = Server::start(&restored).await;
    for (p, before) in original.iter().enumerate() {
        let now = r.profile(&format!("backup-{p}")).await;
        assert_eq!(now["productViews"], 2000);
        assert_eq!(&now, before, "profile backup-{p} after restore");
    }
    drop(r);

    // The mid-ingest backup is a consistent earlier state: every profile has only whole
    // acknowledged batches, and the restored server takes the rest when resent.
    let out = tailor(&["restore", during.to_str().unwrap()], &restored_during);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = Server::start(&restored_during).await;
    for p in 0..people {
        // A person whose first batch came after the snapshot is not there at all.
        let (status, profile) = r.admin_get(&format!("/v1/profiles/backup-{p}")).await;
        assert!(status == 200 || status == 404, "{status}: {profile}");
        let views = profile["productViews"].as_u64().unwrap_or(0);
        assert!(views <= 2000 && views % 50 == 0, "backup-{p}: {views}");
    }
    // Restoring over a store is refused without --replace.
    let out = tailor(&["restore", after.to_str().unwrap()], &restored_during);
    assert!(!out.status.success());
}
