//! The catalog API, in-process: products upserted as JSON or NDJSON, validated with every
//! problem reported by index, listed by category, deleted; placement content validated
//! (targeting conditions included); everything kept across a restart.

use serde_json::json;
use tailor_testkit::{ADMIN_KEY, TestApp, WRITE_KEY};

#[tokio::test(flavor = "multi_thread")]
async fn catalog_upserts_validates_and_deletes() {
    let mut s = TestApp::over(tailor_testkit::TestEngine::builder().sqlite().start().await);
    let products = json!([
        {"id": "p1", "name": "Trail runner", "category": ["Shoes", "Running"], "brand": "Fleet", "price": 89.0, "stock": 4,
         "attributes": {"color": "red"}, "image_url": "https://img.example/p1.jpg"},
        {"id": "p2", "name": "Kettle", "category": "Home/Kitchen", "price": 25, "currency": "eur", "stock": 0}
    ]);
    let (status, reply) = s.admin_put("/v1/catalog/products", &products).await;
    assert_eq!(
        (status, reply["upserted"].as_u64()),
        (200, Some(2)),
        "{reply}"
    );
    // NDJSON upsert changes p2 and adds p3.
    let nd = "{\"id\": \"p2\", \"name\": \"Kettle\", \"category\": \"Home/Kitchen\", \"price\": 30}\n{\"id\": \"p3\", \"name\": \"Pan\", \"category\": \"Home/Kitchen\", \"price\": 40}\n";
    let (status, _) = s
        .put("/v1/catalog/products")
        .bearer(ADMIN_KEY)
        .header("content-type", "application/x-ndjson")
        .body(nd)
        .send()
        .await;
    assert_eq!(status, 200);
    let (status, p2) = s
        .get("/v1/catalog/products/p2")
        .bearer(WRITE_KEY)
        .send()
        .await;
    assert_eq!((status, p2["price"].as_f64()), (200, Some(30.0)));
    assert_eq!(p2["category"], json!(["Home", "Kitchen"]));
    let (_, list) = s.admin_get("/v1/catalog/products?category=Home").await;
    assert_eq!(list["total"], 2);
    let (_, tree) = s.admin_get("/v1/catalog/categories").await;
    assert_eq!(tree["categories"][0]["name"], "Home");
    assert_eq!(tree["categories"][0]["children"][0]["products"], 2);
    // One bad product: nothing stored, every problem reported with its index.
    let (status, err) = s
        .admin_put(
            "/v1/catalog/products",
            &json!([
                {"id": "p9", "name": "Fine", "category": "A/B", "price": 1},
                {"id": "p10", "category": "A/B", "price": -3},
            ]),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(err["error"]["code"], "invalid_catalog");
    assert_eq!(err["error"]["details"][0]["index"], 1);
    assert_eq!(
        err["error"]["details"][0]["problems"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(s.admin_get("/v1/catalog/products/p9").await.0, 404);
    // Delete.
    assert_eq!(s.admin_delete("/v1/catalog/products/p1").await.0, 200);
    assert_eq!(s.admin_delete("/v1/catalog/products/p1").await.0, 404);
    // Content for placements.
    let content = json!([
        {"id": "hero-run", "kind": "banner", "placements": ["home.hero"], "title": "Run further",
         "targeting": {"categories": ["Shoes"], "condition": {"lifecycleStage": "repeat"}, "priority": 2}},
        {"id": "promo-cart", "kind": "promotion", "placements": ["promo.banner"], "title": "10% off your cart",
         "targeting": {"stages": ["evaluation"], "start_at": "2026-01-01T00:00:00Z", "end_at": "2027-01-01T00:00:00Z", "max_impressions": 1000}},
        {"id": "nav-shoes", "kind": "navigation", "placements": ["nav.categories"], "title": "Shoes", "link_url": "/c/shoes"}
    ]);
    assert_eq!(s.admin_put("/v1/catalog/content", &content).await.0, 200);
    let (_, heroes) = s.admin_get("/v1/catalog/content?placement=home.hero").await;
    assert_eq!(heroes["total"], 1);
    let (status, err) = s
        .admin_put(
            "/v1/catalog/content",
            &json!({"id": "x", "kind": "popup", "placements": [], "title": "t"}),
        )
        .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(
        err["error"]["details"][0]["problems"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let (status, err) = s
        .admin_put(
            "/v1/catalog/content",
            &json!({"id": "y", "kind": "banner", "placements": ["home.hero"], "title": "t",
                    "targeting": {"condition": {"orders": {"$between": [1, 2]}}}}),
        )
        .await;
    assert_eq!(
        status, 400,
        "an invalid targeting condition is refused: {err}"
    );
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("condition"),
        "{err}"
    );
    // The catalog survives a restart.
    s.restart().await;
    assert_eq!(s.admin_get("/v1/catalog/products/p3").await.0, 200);
    assert_eq!(
        s.admin_get("/v1/catalog/content/promo-cart").await.1["targeting"]["max_impressions"],
        1000
    );
}
