//! The behaviour every [`Store`] implementation must show, as stories: one function per
//! behaviour, each given a fresh, empty store. Each backend has one test that calls
//! [`run_all`] with a factory for such stores (as atuin's database stories and arrow-rs's
//! `object_store` integration functions do), so a new backend gets the whole suite by
//! writing that one test.

use serde_json::json;
use tailor_core::message::{Envelope, parse_message};
use tailor_core::{ContentItem, Message, Millis, Product};

use crate::{
    AudienceChange, AudienceOp, AuditEntry, Checkpoint, DecisionRecord, Exposure, JourneyRun,
    JourneyWrite, OutboxItem, OutboxStatus, PersonKeys, ProfileRow, Reward, RunStatus, Store,
};

/// A named story of one behaviour.
pub type Story = (&'static str, fn(&dyn Store));

/// Runs every story, each on a fresh store. `G` keeps the store's resources (a temp
/// directory, a database) alive until the story ends.
pub fn run_all<S: Store, G>(fresh: impl Fn() -> (S, G)) {
    for (name, story) in STORIES {
        let (store, _guard) = fresh();
        eprintln!("store conformance: {name}");
        story(&store);
    }
}

/// Every story, in the order [`run_all`] tells them.
pub const STORIES: &[Story] = &[
    ("append_dedupes_by_message_id", append_dedupes_by_message_id),
    ("events_read_back_in_order", events_read_back_in_order),
    (
        "events_of_finds_every_id_field",
        events_of_finds_every_id_field,
    ),
    (
        "positions_are_never_reused_after_deletions",
        positions_are_never_reused_after_deletions,
    ),
    ("checkpoint_round_trips", checkpoint_round_trips),
    ("catalog_upserts_and_deletes", catalog_upserts_and_deletes),
    (
        "erase_person_reaches_every_table",
        erase_person_reaches_every_table,
    ),
    (
        "decisions_and_rewards_are_logged",
        decisions_and_rewards_are_logged,
    ),
    (
        "retired_decisions_leave_daily_rollups",
        retired_decisions_leave_daily_rollups,
    ),
    (
        "suppression_and_audit_records",
        suppression_and_audit_records,
    ),
    ("exposures_keep_the_first", exposures_keep_the_first),
    (
        "retention_deletes_only_old_checkpointed_events",
        retention_deletes_only_old_checkpointed_events,
    ),
    (
        "journey_rows_are_atomic_and_idempotent",
        journey_rows_are_atomic_and_idempotent,
    ),
    (
        "erase_person_reaches_journey_rows",
        erase_person_reaches_journey_rows,
    ),
    (
        "recent_decisions_are_the_newest_oldest_first",
        recent_decisions_are_the_newest_oldest_first,
    ),
    ("statuses_round_trip", statuses_round_trip),
    ("id_lists_of_any_length", id_lists_of_any_length),
];

/// A message for tests: `kind` with the given ids.
pub fn message(id: &str, kind: &str, user: Option<&str>, anon: Option<&str>) -> Message {
    let mut v = json!({"type": kind, "messageId": id, "event": "Product Viewed", "timestamp": "2026-01-01T00:00:00Z"});
    if let Some(u) = user {
        v["userId"] = json!(u);
    }
    if let Some(a) = anon {
        v["anonymousId"] = json!(a);
    }
    if kind == "alias" {
        v["previousId"] = json!(anon.unwrap_or("prev"));
        v.as_object_mut().map(|o| o.remove("anonymousId"));
    }
    parse_message(
        v,
        None,
        &Envelope {
            received_at: 1,
            ..Default::default()
        },
        || id.to_string(),
    )
    .expect("valid message")
}

fn append_dedupes_by_message_id(s: &dyn Store) {
    let a = message("m1", "track", Some("u1"), None);
    let b = message("m2", "track", Some("u1"), None);
    let first = s.append(&[a.clone(), b.clone()]).unwrap();
    assert!(first.iter().all(Option::is_some));
    let again = s
        .append(&[a, message("m3", "track", None, Some("x")), b])
        .unwrap();
    assert_eq!(again[0], None);
    assert!(again[1].is_some());
    assert_eq!(again[2], None);
    assert_eq!(s.event_count().unwrap(), 3);
    // A duplicate inside one append is stored once.
    let dup = message("m4", "track", Some("u1"), None);
    let r = s.append(&[dup.clone(), dup]).unwrap();
    assert!(r[0].is_some() && r[1].is_none());
}

fn events_read_back_in_order(s: &dyn Store) {
    let msgs: Vec<_> = (0..10)
        .map(|i| message(&format!("m{i}"), "page", Some("u"), None))
        .collect();
    let seqs = s.append(&msgs).unwrap();
    let back = s.events_after(0, 100).unwrap();
    assert_eq!(back.len(), 10);
    assert_eq!(back.iter().map(|e| Some(e.seq)).collect::<Vec<_>>(), seqs);
    assert_eq!(back[3].message, msgs[3]);
    let tail = s.events_after(seqs[7].unwrap(), 100).unwrap();
    assert_eq!(tail.len(), 2);
    assert_eq!(s.events_after(0, 4).unwrap().len(), 4);
    assert_eq!(s.last_seq().unwrap(), seqs[9].unwrap());
}

fn events_of_finds_every_id_field(s: &dyn Store) {
    s.append(&[
        message("a", "track", Some("u1"), None),
        message("b", "track", None, Some("anon1")),
        message("c", "alias", Some("u2"), Some("anon1")),
        message("d", "track", Some("other"), None),
    ])
    .unwrap();
    let found = s.events_of(&["u1".into(), "anon1".into()], 10).unwrap();
    let mut ids: Vec<_> = found
        .iter()
        .map(|e| e.message.message_id.as_str())
        .collect();
    ids.sort();
    assert_eq!(ids, ["a", "b", "c"]);
}

fn checkpoint_round_trips(s: &dyn Store) {
    assert_eq!(s.snapshot().unwrap().seq, 0);
    s.checkpoint(&Checkpoint {
        seq: 42,
        upsert_profiles: vec![
            ProfileRow {
                id: 1,
                state: b"one".to_vec(),
            },
            ProfileRow {
                id: 2,
                state: b"two".to_vec(),
            },
        ],
        delete_profiles: vec![],
        upsert_identities: vec![("user:u1".into(), 1), ("anon:a".into(), 2)],
        meta: vec![("next_profile_id".into(), "3".into())],
    })
    .unwrap();
    s.checkpoint(&Checkpoint {
        seq: 50,
        upsert_profiles: vec![ProfileRow {
            id: 1,
            state: b"merged".to_vec(),
        }],
        delete_profiles: vec![2],
        upsert_identities: vec![("anon:a".into(), 1)],
        meta: vec![],
    })
    .unwrap();
    let snap = s.snapshot().unwrap();
    assert_eq!(snap.seq, 50);
    assert_eq!(
        snap.profiles,
        vec![ProfileRow {
            id: 1,
            state: b"merged".to_vec()
        }]
    );
    let mut ids = snap.identities.clone();
    ids.sort();
    assert_eq!(
        ids,
        vec![("anon:a".to_string(), 1), ("user:u1".to_string(), 1)]
    );
    assert_eq!(
        snap.meta,
        vec![("next_profile_id".to_string(), "3".to_string())]
    );
}

fn catalog_upserts_and_deletes(s: &dyn Store) {
    let p = |id: &str, price: f64| {
        Product::from_json(json!({"id": id, "name": "n", "category": "A/B", "price": price}))
            .expect("valid product")
    };
    s.put_products(&[p("1", 1.0), p("2", 2.0)]).unwrap();
    s.put_products(&[p("1", 5.0)]).unwrap();
    let all = s.products().unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].price, 5.0);
    assert!(s.delete_product("2").unwrap());
    assert!(!s.delete_product("2").unwrap());
    assert_eq!(s.products().unwrap().len(), 1);
    let c = ContentItem::from_json(
        json!({"id": "c1", "kind": "banner", "placements": ["home.hero"], "title": "t"}),
    )
    .expect("valid content");
    s.put_content(std::slice::from_ref(&c)).unwrap();
    assert_eq!(s.content().unwrap(), vec![c]);
    assert!(s.delete_content("c1").unwrap());
    assert!(s.content().unwrap().is_empty());
}

/// A position, once handed out, is never handed out again, even when the newest events
/// were erased or expired: readers that keep a cursor (journeys, checkpoints) would
/// otherwise skip the events that took the old positions.
fn positions_are_never_reused_after_deletions(s: &dyn Store) {
    let first = s
        .append(&[
            message("a", "track", Some("u1"), None),
            message("b", "track", Some("u2"), None),
        ])
        .unwrap();
    let newest = first[1].unwrap();
    s.erase_person(&PersonKeys {
        profile_ids: vec![],
        ids: vec!["u2".into()],
        at: 1,
    })
    .unwrap();
    let after_erasure = s
        .append(&[message("c", "track", Some("u3"), None)])
        .unwrap()[0]
        .unwrap();
    assert!(
        after_erasure > newest,
        "{after_erasure} reuses a position up to {newest}"
    );
    // Retention that empties the log.
    while s
        .delete_events_before(Millis::MAX, after_erasure, &[], 10)
        .unwrap()
        > 0
    {}
    assert_eq!(s.event_count().unwrap(), 0);
    let after_retention = s
        .append(&[message("d", "track", Some("u4"), None)])
        .unwrap()[0]
        .unwrap();
    assert!(
        after_retention > after_erasure,
        "{after_retention} reuses a position up to {after_erasure}"
    );
}

fn erase_person_reaches_every_table(s: &dyn Store) {
    s.append(&[
        message("a", "track", Some("u1"), Some("anon1")),
        message("b", "track", None, Some("anon1")),
        message("c", "alias", Some("u1"), Some("old-anon")),
        message("keep", "track", Some("u2"), None),
    ])
    .unwrap();
    s.checkpoint(&Checkpoint {
        seq: 4,
        upsert_profiles: vec![
            ProfileRow {
                id: 7,
                state: b"u1".to_vec(),
            },
            ProfileRow {
                id: 8,
                state: b"u2".to_vec(),
            },
        ],
        upsert_identities: vec![
            ("user:u1".into(), 7),
            ("anon:anon1".into(), 7),
            ("user:u2".into(), 8),
        ],
        ..Default::default()
    })
    .unwrap();
    let erased = s
        .erase_person(&PersonKeys {
            profile_ids: vec![7],
            ids: vec!["u1".into(), "anon1".into(), "old-anon".into()],
            at: 99,
        })
        .unwrap();
    assert_eq!(
        (erased.events, erased.profiles, erased.identities),
        (3, 1, 2)
    );
    assert_eq!(s.event_count().unwrap(), 1);
    let snap = s.snapshot().unwrap();
    assert_eq!(snap.profiles.len(), 1);
    assert_eq!(snap.identities, vec![("user:u2".to_string(), 8)]);
}

/// A decision showing `shown`, one placement each; items starting with `promo` count
/// against budgets.
pub fn decision_showing(
    id: &str,
    at: Millis,
    anonymous: Option<&str>,
    user: Option<&str>,
    shown: &[&str],
) -> DecisionRecord {
    DecisionRecord {
        id: id.into(),
        at,
        user_id: user.map(str::to_string),
        anonymous_id: anonymous.map(str::to_string),
        personalized: true,
        model_version: "rules-2".into(),
        profile: Some(7),
        product: Some("sku-1".into()),
        placements: shown
            .iter()
            .map(|item| crate::LoggedPlacement {
                placement: format!("slot-{item}"),
                kind: "promotion".into(),
                chosen: Some(item.to_string()),
                shown: vec![item.to_string()],
                propensity: 0.5,
                explanation: format!("Because {item}"),
                counted: item.starts_with("promo"),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

fn decisions_and_rewards_are_logged(s: &dyn Store) {
    let d = |id: &str, user: &str, shown: &[&str]| decision_showing(id, 5, None, Some(user), shown);
    s.log_decisions(&[
        d("d1", "u1", &["promo-a", "p1"]),
        d("d2", "u2", &["promo-a"]),
        d("d3", "u2", &[]),
    ])
    .unwrap();
    s.log_rewards(&[Reward {
        decision_id: "d1".into(),
        seq: 9,
        event: "Promotion Clicked".into(),
        value: 0.0,
        at: 7,
    }])
    .unwrap();
    let (record, rewards) = s.decision("d1").unwrap().unwrap();
    assert_eq!(record, d("d1", "u1", &["promo-a", "p1"]));
    assert_eq!(s.decision("d3").unwrap().unwrap().0, d("d3", "u2", &[]));
    let theirs = s.decisions_of(&["u2".into()], 10).unwrap();
    assert_eq!(
        theirs.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        ["d2", "d3"]
    );
    assert_eq!(theirs[0].shown(), ["promo-a"]);
    assert_eq!(rewards.len(), 1);
    assert!(s.decision("nope").unwrap().is_none());
    let mut counts = s.shown_counts().unwrap();
    counts.sort();
    assert_eq!(
        counts,
        vec![("promo-a".to_string(), 2)],
        "only counted items"
    );
    let erased = s
        .erase_person(&PersonKeys {
            profile_ids: vec![],
            ids: vec!["u1".into()],
            at: 99,
        })
        .unwrap();
    assert_eq!(erased.decisions, 1);
    assert!(s.decision("d1").unwrap().is_none());
    assert_eq!(s.shown_counts().unwrap(), vec![("promo-a".to_string(), 1)]);
}

fn retired_decisions_leave_daily_rollups(s: &dyn Store) {
    use tailor_core::time::DAY;
    let d = |id: &str, at| decision_showing(id, at, Some("a"), None, &["promo-a"]);
    s.log_decisions(&[
        d("d_x1", 10),
        d("d_x2", DAY + 5),
        d("d_x3", DAY + 6),
        d("d_x10", 3 * DAY),
    ])
    .unwrap();
    let reward = |decision: &str, at| Reward {
        decision_id: decision.into(),
        seq: 1,
        event: "Order Completed".into(),
        value: 5.0,
        at,
    };
    s.log_rewards(&[reward("d_x2", DAY + 9), reward("unknown", 20)])
        .unwrap();
    // Two at a time: the first call retires the first two, the next the third.
    assert_eq!(s.retire_decisions(2 * DAY, 2).unwrap(), 2);
    assert_eq!(s.retire_decisions(2 * DAY, 2).unwrap(), 1);
    assert_eq!(s.retire_decisions(2 * DAY, 2).unwrap(), 0);
    assert!(s.decision("d_x2").unwrap().is_none());
    let (kept, _) = s
        .decision("d_x10")
        .unwrap()
        .expect("a newer decision stays");
    assert_eq!(kept, d("d_x10", 3 * DAY));
    let days = s.decision_days(0).unwrap();
    let rows: Vec<(i64, &str, &str, u64, u64, f64)> = days
        .iter()
        .map(|r| {
            (
                r.day,
                r.placement.as_str(),
                r.item.as_str(),
                r.decisions,
                r.rewarded,
                r.value,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (0, "slot-promo-a", "promo-a", 1, 0, 0.0),
            (DAY, "slot-promo-a", "promo-a", 2, 1, 5.0),
        ]
    );
    assert_eq!(s.decision_days(DAY).unwrap().len(), 1);
    assert_eq!(
        s.shown_counts().unwrap(),
        [("promo-a".to_string(), 4)],
        "budgets count retired decisions"
    );
}

fn suppression_and_audit_records(s: &dyn Store) {
    s.suppress(&["h1".into(), "h2".into(), "h1".into()])
        .unwrap();
    let mut all = s.suppressed().unwrap();
    all.sort();
    assert_eq!(all, ["h1", "h2"]);
    assert_eq!(s.unsuppress(&["h2".into(), "h3".into()]).unwrap(), 1);
    assert_eq!(s.suppressed().unwrap(), ["h1"]);
    for (at, action) in [(1, "erase"), (2, "unsuppress")] {
        s.audit(&AuditEntry {
            at,
            action: action.into(),
            detail: "{}".into(),
        })
        .unwrap();
    }
    let log = s.audit_log(10).unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].action, "unsuppress", "newest first");
    assert_eq!(s.audit_log(1).unwrap().len(), 1);
    s.purge().unwrap();
    assert!(s.decisions_of(&[], 10).unwrap().is_empty());
}

fn exposures_keep_the_first(s: &dyn Store) {
    let e = |id: &str, variation, at| Exposure {
        experiment: "exp".into(),
        id: id.into(),
        variation,
        at,
    };
    s.log_exposures(&[e("a", 1, 10), e("b", 0, 11)]).unwrap();
    s.log_exposures(&[e("a", 0, 20)]).unwrap();
    let mut all = s.exposures().unwrap();
    all.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(all, [e("a", 1, 10), e("b", 0, 11)]);
    assert_eq!(
        s.exposures_of(&["b".into(), "c".into()]).unwrap(),
        [e("b", 0, 11)]
    );
    assert!(s.exposures_of(&[]).unwrap().is_empty());
    s.erase_person(&PersonKeys {
        profile_ids: vec![],
        ids: vec!["a".into()],
        at: 99,
    })
    .unwrap();
    assert_eq!(s.exposures().unwrap(), [e("b", 0, 11)]);
}

fn journey_run(id: &str, person: &str, due_at: Option<i64>) -> JourneyRun {
    JourneyRun {
        id: id.into(),
        journey: "j".into(),
        version: 1,
        person: person.into(),
        step: 0,
        status: RunStatus::Active,
        due_at,
        wait_event: None,
        entered_at: 1,
        updated_at: 1,
        state: "{}".into(),
    }
}

fn outbox_item(key: &str, person: &str, next_at: i64, priority: i64) -> OutboxItem {
    OutboxItem {
        key: key.into(),
        run_id: "r".into(),
        journey: "j".into(),
        step: 1,
        person: person.into(),
        channel: "email".into(),
        payload: "{}".into(),
        priority,
        status: OutboxStatus::Pending,
        attempts: 0,
        next_at,
        last_error: None,
        created_at: 1,
        sent_at: None,
    }
}

fn audience(person: &str, op: AudienceOp) -> AudienceChange {
    AudienceChange {
        seq: 0,
        audience: "cart".into(),
        person: person.into(),
        op,
        at: 5,
        match_keys: (op == AudienceOp::Add).then(|| format!("keys of {person}")),
    }
}

fn journey_rows_are_atomic_and_idempotent(s: &dyn Store) {
    assert_eq!(s.journey_cursor().unwrap(), None);
    let mut w = JourneyWrite {
        runs: vec![
            journey_run("r1", "u1", Some(10)),
            journey_run("r2", "u2", None),
        ],
        new_outbox: vec![
            outbox_item("k1", "u1", 10, 0),
            outbox_item("k2", "u1", 5, 9),
        ],
        audience: vec![
            audience("u1", AudienceOp::Add),
            audience("u1", AudienceOp::Add),
        ],
        cursor: Some(42),
        ..Default::default()
    };
    w.count("j", "0", "entered");
    w.count("j", "0", "entered");
    s.journey_write(&w).unwrap();
    assert_eq!(s.journey_cursor().unwrap(), Some(42));
    let due: Vec<String> = s
        .journey_runs_due(10, 10)
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(due, vec!["r1"]);
    assert!(s.journey_runs_due(9, 10).unwrap().is_empty());
    assert_eq!(s.journey_runs_of(&["u2".into()]).unwrap().len(), 1);
    assert_eq!(s.journey_runs_in("j").unwrap().len(), 2);
    assert!(s.journey_runs_in("other").unwrap().is_empty());
    // An outbox key already present is left alone: a replayed step cannot queue twice.
    let mut again = outbox_item("k1", "u1", 0, 0);
    again.payload = "changed".into();
    s.journey_write(&JourneyWrite {
        new_outbox: vec![again],
        ..Default::default()
    })
    .unwrap();
    assert_eq!(s.outbox_item("k1").unwrap().unwrap().payload, "{}");
    // Due messages come highest priority first.
    let due: Vec<String> = s
        .outbox_due(10, 10)
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(due, vec!["k2", "k1"]);
    let mut sent = outbox_item("k2", "u1", 5, 9);
    sent.status = OutboxStatus::Sent;
    sent.sent_at = Some(7);
    s.journey_write(&JourneyWrite {
        outbox_updates: vec![sent],
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        s.sends_since(&["u1".into()], 6).unwrap(),
        vec![("email".to_string(), 7)]
    );
    assert!(s.sends_since(&["u1".into()], 8).unwrap().is_empty());
    assert_eq!(
        s.outbox_list(Some(OutboxStatus::Sent), None, 10)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(s.outbox_item("k2").unwrap().unwrap().sent_at, Some(7));
    assert_eq!(
        s.outbox_where(OutboxStatus::Sent, None, None)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        s.outbox_where(OutboxStatus::Sent, Some("j"), Some("email"))
            .unwrap()
            .len(),
        1
    );
    assert!(
        s.outbox_where(OutboxStatus::Sent, Some("other"), None)
            .unwrap()
            .is_empty()
    );
    assert!(
        s.outbox_where(OutboxStatus::Sent, None, Some("onsite"))
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.outbox_where(OutboxStatus::Pending, None, None)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        s.outbox_list(None, Some(&["u1".into()]), 10).unwrap().len(),
        2
    );
    // Adding a member twice is one change; removing a non-member is none.
    s.journey_write(&JourneyWrite {
        audience: vec![
            audience("u1", AudienceOp::Remove),
            audience("u9", AudienceOp::Remove),
        ],
        ..Default::default()
    })
    .unwrap();
    let ops: Vec<AudienceOp> = s
        .audience_changes("cart", 0, 10)
        .unwrap()
        .into_iter()
        .map(|c| c.op)
        .collect();
    assert_eq!(ops, vec![AudienceOp::Add, AudienceOp::Remove]);
    // A remove carries the membership's match keys.
    let keys: Vec<Option<String>> = s
        .audience_changes("cart", 0, 10)
        .unwrap()
        .into_iter()
        .map(|c| c.match_keys)
        .collect();
    assert_eq!(keys, vec![Some("keys of u1".into()); 2]);
    assert!(s.audience_members("cart").unwrap().is_empty());
    assert_eq!(s.audience_names().unwrap(), vec![("cart".to_string(), 0)]);
    assert_eq!(
        s.journey_counts("j").unwrap(),
        vec![("0".to_string(), "entered".to_string(), 2)]
    );
}

fn erase_person_reaches_journey_rows(s: &dyn Store) {
    s.append(&[message("a", "track", Some("u1"), None)])
        .unwrap();
    s.journey_write(&JourneyWrite {
        runs: vec![
            journey_run("r1", "u1", Some(1)),
            journey_run("r2", "u2", Some(1)),
        ],
        new_outbox: vec![outbox_item("k1", "u1", 1, 0), outbox_item("k2", "u2", 1, 0)],
        audience: vec![
            audience("u1", AudienceOp::Add),
            audience("u2", AudienceOp::Add),
        ],
        ..Default::default()
    })
    .unwrap();
    let erased = s
        .erase_person(&PersonKeys {
            profile_ids: vec![],
            ids: vec!["u1".into()],
            at: 99,
        })
        .unwrap();
    // The run, the message, the membership and its change record; the membership ends
    // with a remove that names no one and keeps only the match keys.
    assert_eq!(erased.journeys, 4);
    assert_eq!(erased.audience_removals, 1);
    assert!(s.journey_runs_of(&["u1".into()]).unwrap().is_empty());
    assert!(s.outbox_item("k1").unwrap().is_none());
    assert_eq!(s.journey_runs_of(&["u2".into()]).unwrap().len(), 1);
    assert!(s.outbox_item("k2").unwrap().is_some());
    let members = s.audience_members("cart").unwrap();
    assert_eq!(members, vec![("u2".to_string(), 5)]);
    let changes = s.audience_changes("cart", 0, 10).unwrap();
    let seen: Vec<(&str, AudienceOp, Millis, Option<&str>)> = changes
        .iter()
        .map(|c| (c.person.as_str(), c.op, c.at, c.match_keys.as_deref()))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("u2", AudienceOp::Add, 5, Some("keys of u2")),
            ("", AudienceOp::Remove, 99, Some("keys of u1")),
        ]
    );
    // After every position given out: a sync that read the add sees the remove.
    assert_eq!(changes[1].seq, 3);
    assert_eq!(s.audience_names().unwrap(), vec![("cart".to_string(), 1)]);
    // Positions are never reused, even when the erased rows were the newest.
    s.journey_write(&JourneyWrite {
        audience: vec![audience("u3", AudienceOp::Add)],
        ..Default::default()
    })
    .unwrap();
    s.erase_person(&PersonKeys {
        profile_ids: vec![],
        ids: vec!["u3".into()],
        at: 100,
    })
    .unwrap();
    s.journey_write(&JourneyWrite {
        audience: vec![audience("u4", AudienceOp::Add)],
        ..Default::default()
    })
    .unwrap();
    let seqs: Vec<i64> = s
        .audience_changes("cart", 0, 10)
        .unwrap()
        .iter()
        .map(|c| c.seq)
        .collect();
    assert_eq!(seqs, vec![2, 3, 5, 6]);
}

fn retention_deletes_only_old_checkpointed_events(s: &dyn Store) {
    const CONSENT: &str = "Segment Consent Preference Updated";
    let at = |id: &str, user: &str, ts: i64| {
        let mut m = message(id, "track", Some(user), Some(&format!("anon-{user}")));
        m.timestamp = ts;
        m
    };
    let mut consent = at("kept", "u1", 10);
    consent.event = Some(CONSENT.into());
    let seqs = s
        .append(&[
            at("old-1", "u1", 10),
            at("old-2", "u2", 20),
            consent,
            at("new", "u1", 1_000),
            at("old-uncovered", "u1", 10),
        ])
        .unwrap();
    let seq = |i: usize| seqs[i].unwrap();
    assert_eq!(s.checkpointed_seq().unwrap(), 0);
    s.checkpoint(&Checkpoint {
        seq: seq(3),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(s.checkpointed_seq().unwrap(), seq(3));
    let up_to = s.checkpointed_seq().unwrap();
    assert_eq!(
        s.delete_events_before(100, up_to, &[CONSENT], 1).unwrap(),
        1
    );
    assert_eq!(
        s.delete_events_before(100, up_to, &[CONSENT], 1).unwrap(),
        1
    );
    assert_eq!(
        s.delete_events_before(100, up_to, &[CONSENT], 1).unwrap(),
        0
    );
    let left: Vec<String> = s
        .events_after(0, 100)
        .unwrap()
        .into_iter()
        .map(|e| e.message.message_id)
        .collect();
    assert_eq!(left, ["kept", "new", "old-uncovered"]);
    // The person index no longer finds the deleted events.
    let of = |id: &str| s.events_of(&[id.to_string()], 100).unwrap().len();
    assert_eq!(of("u2"), 0);
    assert_eq!(of("anon-u2"), 0);
    assert_eq!(of("u1"), 3);
    // Without a keep list, the consent event goes too.
    assert_eq!(s.delete_events_before(100, up_to, &[], 10).unwrap(), 1);
    assert_eq!(s.event_count().unwrap(), 2);
}

/// "Newest" is the order they were logged in (the log thread writes them as they are made).
fn recent_decisions_are_the_newest_oldest_first(s: &dyn Store) {
    let d = |id: &str, at| decision_showing(id, at, Some("a"), None, &["p1"]);
    s.log_decisions(&[d("d1", 10), d("d2", 20)]).unwrap();
    s.log_decisions(&[d("d3", 30)]).unwrap();
    let reward = |decision: &str, seq| Reward {
        decision_id: decision.into(),
        seq,
        event: "Order Completed".into(),
        value: 5.0,
        at: 40,
    };
    s.log_rewards(&[reward("d3", 2), reward("d3", 1), reward("gone", 3)])
        .unwrap();
    let all = Millis::MIN..Millis::MAX;
    let recent = s.recent_decisions(all.clone(), 2).unwrap();
    let ids: Vec<&str> = recent.iter().map(|(d, _)| d.id.as_str()).collect();
    assert_eq!(ids, ["d2", "d3"]);
    assert!(recent[0].1.is_empty());
    let seqs: Vec<i64> = recent[1].1.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [1, 2], "rewards in log order");
    assert_eq!(s.recent_decisions(all, usize::MAX).unwrap().len(), 3);
    // A time range: from (inclusive) to (exclusive), the newest within it.
    let ids = |during, limit| -> Vec<String> {
        s.recent_decisions(during, limit)
            .unwrap()
            .into_iter()
            .map(|(d, _)| d.id)
            .collect()
    };
    assert_eq!(ids(10..30, 10), ["d1", "d2"]);
    assert_eq!(ids(10..30, 1), ["d2"]);
    assert_eq!(ids(20..31, 10), ["d2", "d3"]);
    assert!(ids(31..100, 10).is_empty());
}

fn statuses_round_trip(s: &dyn Store) {
    let runs: Vec<JourneyRun> = RunStatus::ALL
        .iter()
        .map(|&status| JourneyRun {
            status,
            ..journey_run(status.as_str(), "u1", None)
        })
        .collect();
    let outbox: Vec<OutboxItem> = OutboxStatus::ALL
        .iter()
        .map(|&status| OutboxItem {
            status,
            ..outbox_item(status.as_str(), "u1", 1, 0)
        })
        .collect();
    s.journey_write(&JourneyWrite {
        runs: runs.clone(),
        new_outbox: outbox.clone(),
        ..Default::default()
    })
    .unwrap();
    let mut back = s.journey_runs_of(&["u1".into()]).unwrap();
    back.sort_by(|a, b| a.id.cmp(&b.id));
    let mut expected = runs;
    expected.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(back, expected);
    for item in &outbox {
        assert_eq!(s.outbox_item(&item.key).unwrap().as_ref(), Some(item));
        assert_eq!(
            s.outbox_where(item.status, None, None).unwrap(),
            std::slice::from_ref(item)
        );
    }
    // Only active runs have timers.
    s.journey_write(&JourneyWrite {
        runs: RunStatus::ALL
            .iter()
            .map(|&status| JourneyRun {
                status,
                ..journey_run(status.as_str(), "u1", Some(5))
            })
            .collect(),
        ..Default::default()
    })
    .unwrap();
    let due: Vec<RunStatus> = s
        .journey_runs_due(5, 10)
        .unwrap()
        .into_iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(due, [RunStatus::Active]);
}

/// More ids than SQLite takes bound variables in one statement (32,766), as a profile
/// that gathered thousands of anonymous sessions has: every query taking a list of ids
/// answers for all of them, the last as well as the first, and erasure takes them at once.
fn id_lists_of_any_length(s: &dyn Store) {
    const N: usize = 40_000;
    let ids: Vec<String> = (0..N).map(|i| format!("anon-{i}")).collect();
    let (first, middle, last) = (&ids[0], &ids[N / 2], &ids[N - 1]);
    let template = message("template", "track", None, Some("x"));
    let mut messages: Vec<Message> = ids
        .iter()
        .map(|id| Message {
            message_id: format!("m-{id}"),
            anonymous_id: Some(id.clone()),
            ..template.clone()
        })
        .collect();
    messages.push(message("other", "track", Some("other"), None));
    s.append(&messages).unwrap();

    let decision =
        |id: &str, person: &str, at| decision_showing(id, at, Some(person), None, &["promo"]);
    s.log_decisions(&[
        decision("d-first", first, 1),
        decision("d-last", last, 2),
        decision("d-other", "other", 3),
    ])
    .unwrap();
    let exposure = |id: &str, at| Exposure {
        experiment: "exp".into(),
        id: id.into(),
        variation: 1,
        at,
    };
    s.log_exposures(&[exposure(first, 1), exposure(last, 2), exposure("other", 3)])
        .unwrap();
    let mut sent = outbox_item("k-last", last, 1, 0);
    sent.status = OutboxStatus::Sent;
    sent.sent_at = Some(7);
    s.journey_write(&JourneyWrite {
        runs: vec![
            journey_run("r-first", first, None),
            journey_run("r-middle", middle, None),
            journey_run("r-last", last, None),
            journey_run("r-other", "other", None),
        ],
        new_outbox: vec![
            outbox_item("k-first", first, 1, 0),
            outbox_item("k-middle", middle, 1, 0),
            sent,
            outbox_item("k-other", "other", 1, 0),
        ],
        audience: vec![audience(last, AudienceOp::Add)],
        ..Default::default()
    })
    .unwrap();

    assert_eq!(s.events_of(&ids, usize::MAX).unwrap().len(), N);
    let newest = s.events_of(&ids, 2).unwrap();
    assert_eq!(newest.len(), 2);
    assert_eq!(newest[0].message.anonymous_id.as_ref(), Some(last));
    let decision_ids = |v: Vec<DecisionRecord>| v.into_iter().map(|d| d.id).collect::<Vec<_>>();
    assert_eq!(
        decision_ids(s.decisions_of(&ids, 10).unwrap()),
        ["d-first", "d-last"]
    );
    assert_eq!(
        s.exposures_of(&ids).unwrap(),
        [exposure(first, 1), exposure(last, 2)]
    );
    assert_eq!(s.journey_runs_of(&ids).unwrap().len(), 3);
    assert_eq!(
        s.outbox_list(None, Some(&ids), usize::MAX).unwrap().len(),
        3
    );
    let sent_to_them = s
        .outbox_list(Some(OutboxStatus::Sent), Some(&ids), 10)
        .unwrap();
    assert_eq!(sent_to_them.len(), 1);
    assert_eq!(sent_to_them[0].key, "k-last");
    assert_eq!(s.sends_since(&ids, 0).unwrap(), [("email".to_string(), 7)]);

    let erased = s
        .erase_person(&PersonKeys {
            profile_ids: vec![],
            ids: ids.clone(),
            at: 99,
        })
        .unwrap();
    assert_eq!(erased.events, N as u64);
    assert_eq!(erased.decisions, 2);
    // Three runs, three messages, the membership and its change record.
    assert_eq!(erased.journeys, 8);
    assert_eq!(erased.audience_removals, 1);
    assert_eq!(s.event_count().unwrap(), 1);
    assert!(s.events_of(&ids, 10).unwrap().is_empty());
    assert!(s.decisions_of(&ids, 10).unwrap().is_empty());
    assert!(s.exposures_of(&ids).unwrap().is_empty());
    assert!(s.journey_runs_of(&ids).unwrap().is_empty());
    assert!(s.outbox_list(None, Some(&ids), 10).unwrap().is_empty());
    assert!(s.sends_since(&ids, 0).unwrap().is_empty());
    assert!(s.audience_members("cart").unwrap().is_empty());
    // Someone else's rows are untouched.
    let other = ["other".to_string()];
    assert_eq!(s.events_of(&other, 10).unwrap().len(), 1);
    assert_eq!(
        decision_ids(s.decisions_of(&other, 10).unwrap()),
        ["d-other"]
    );
    assert_eq!(s.exposures().unwrap(), [exposure("other", 3)]);
    assert_eq!(s.journey_runs_of(&other).unwrap().len(), 1);
    assert!(s.outbox_item("k-other").unwrap().is_some());
    assert_eq!(s.shown_counts().unwrap(), [("promo".to_string(), 1)]);
}
