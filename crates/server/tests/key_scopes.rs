//! Each key has its scope, in-process: the public write key ingests and decides (its userId
//! claims need proof), a server key does the same for the store's backend and makes profile
//! tokens, the analyst key reads reports without personal data, the admin key does everything.

use axum::http::Method as M;
use serde_json::json;
use tailor_testkit::{ADMIN_KEY, ANALYST_KEY, SERVER_KEY, TestApp, WRITE_KEY};

#[tokio::test(flavor = "multi_thread")]
async fn each_key_has_its_scope() {
    let s = TestApp::start().await;
    let exp = json!({"placement": "recs.home", "variations": [
        {"id": "holdout", "treatment": "editorial"}, {"id": "personalized", "treatment": "personalized"}]});
    assert_eq!(s.admin_put("/v1/experiments/e1", &exp).await.0, 200);
    let (status, _) = s
        .post(
            "/v1/track",
            &json!({"userId": "u1", "event": "Product Viewed"}),
        )
        .await;
    assert_eq!(status, 200);
    // (method, path, write, server, analyst, admin): the expected status for each key.
    let cases = [
        (M::POST, "/v1/track", 200, 200, 403, 200),
        (M::POST, "/v1/decide", 200, 200, 403, 200),
        (M::POST, "/v1/tokens", 403, 200, 403, 200),
        (M::GET, "/v1/profiles/u1", 403, 403, 403, 200),
        (M::GET, "/v1/profiles/u1/export", 403, 403, 403, 200),
        (M::GET, "/v1/consent/u1", 403, 403, 403, 200),
        (M::GET, "/v1/sources", 403, 403, 403, 200),
        (M::GET, "/v1/experiments", 403, 403, 200, 200),
        (M::GET, "/v1/experiments/e1/results", 403, 403, 200, 200),
        (
            M::GET,
            "/v1/decisions/export?placement=recs.home",
            403,
            403,
            200,
            200,
        ),
        (
            M::GET,
            "/v1/placements/promo.banner/policy",
            403,
            403,
            200,
            200,
        ),
        (M::GET, "/v1/audit", 403, 403, 200, 200),
        (M::GET, "/v1/journeys/none/report", 403, 403, 404, 404),
        (M::GET, "/v1/journeys/none/stats", 403, 403, 403, 404),
        (M::PUT, "/v1/experiments/e1", 403, 403, 403, 400),
    ];
    for (method, path, write, server, analyst, admin) in cases {
        for (key, expected) in [
            (WRITE_KEY, write),
            (SERVER_KEY, server),
            (ANALYST_KEY, analyst),
            (ADMIN_KEY, admin),
        ] {
            // A browser names its own visitor; its userId claim is kept aside (no proof).
            let (status, body) = s
                .request(method.clone(), path)
                .bearer(key)
                .json(&json!({"userId": "u1", "anonymousId": "a1", "event": "X",
                              "placements": ["recs.home"]}))
                .send()
                .await;
            assert_eq!(status, expected, "{method} {path} with {key}: {body}");
        }
    }
}
