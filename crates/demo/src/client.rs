//! The demo's HTTP client: it builds the store through the public API only, as a shop
//! would: the catalog and content with the admin key, events through `/v1/batch` with the
//! write key (HTTP Basic, as Segment's libraries send it), several batches in flight,
//! with a progress bar.

use std::sync::{Arc, Mutex};

use indicatif::{ProgressBar, ProgressState, ProgressStyle};
use serde_json::Value;

use super::simulate::Event;
use crate::error::{Error, fail};

/// Segment's limits are 500 KB per batch; stay clear of it.
const MAX_BATCH_BYTES: usize = 480 * 1024;
const MAX_BATCH_MESSAGES: usize = 500;
const PRODUCTS_PER_REQUEST: usize = 5_000;

pub struct Api {
    http: reqwest::Client,
    base: String,
    /// The key events are sent with (the demo's backend: the server key).
    write_key: String,
    admin_key: String,
}

/// One `/v1/batch` request body and how many messages it carries.
pub struct Batch {
    pub body: String,
    pub messages: usize,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Delivery {
    pub accepted: u64,
    pub duplicates: u64,
}

impl Api {
    pub fn new(base: String, write_key: String, admin_key: String) -> Result<Api, Error> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(16)
            .build()
            .map_err(|source| Error::Request {
                request: "building the HTTP client".into(),
                source,
            })?;
        Ok(Api {
            http,
            base,
            write_key,
            admin_key,
        })
    }

    /// Upserts the catalog, a few thousand products per request; returns how many the
    /// server stored.
    pub async fn put_products(&self, products: &[Value]) -> Result<u64, Error> {
        let mut stored = 0;
        for chunk in products.chunks(PRODUCTS_PER_REQUEST) {
            stored += self.put_catalog("/v1/catalog/products", chunk).await?;
        }
        Ok(stored)
    }

    pub async fn put_content(&self, items: &[Value]) -> Result<u64, Error> {
        self.put_catalog("/v1/catalog/content", items).await
    }

    async fn put_catalog(&self, path: &str, items: &[Value]) -> Result<u64, Error> {
        let response = self
            .http
            .put(format!("{}{path}", self.base))
            .bearer_auth(&self.admin_key)
            .json(items)
            .send()
            .await
            .map_err(request_failed("PUT", path))?;
        let reply = json_reply(response, path).await?;
        Ok(reply.get("upserted").and_then(Value::as_u64).unwrap_or(0))
    }

    /// Sends every batch, `in_flight` at a time, ticking the bar per message.
    pub async fn send_batches(
        self: &Arc<Self>,
        batches: Batches,
        in_flight: usize,
        bar: &ProgressBar,
    ) -> Result<Delivery, Error> {
        let queue = Arc::new(Mutex::new(batches));
        let mut workers = Vec::new();
        for _ in 0..in_flight.max(1) {
            let (api, queue, bar) = (self.clone(), queue.clone(), bar.clone());
            workers.push(tokio::spawn(async move {
                let mut total = Delivery::default();
                loop {
                    let next = queue
                        .lock()
                        .map_err(|_| Error::Failed("the queue of batches was poisoned".into()))?
                        .next();
                    let Some(batch) = next else { break };
                    let d = api.send_batch(batch.body).await?;
                    total.accepted += d.accepted;
                    total.duplicates += d.duplicates;
                    bar.inc(batch.messages as u64);
                }
                Ok::<_, Error>(total)
            }));
        }
        let mut total = Delivery::default();
        for w in workers {
            let d = w.await.map_err(|source| Error::Stopped {
                what: "an event sender",
                source,
            })??;
            total.accepted += d.accepted;
            total.duplicates += d.duplicates;
        }
        Ok(total)
    }

    /// `PUT path` with the admin key.
    pub async fn admin_put(&self, path: &str, body: &Value) -> Result<Value, Error> {
        let response = self
            .http
            .put(format!("{}{path}", self.base))
            .bearer_auth(&self.admin_key)
            .json(body)
            .send()
            .await
            .map_err(request_failed("PUT", path))?;
        json_reply(response, path).await
    }

    /// `GET path` with the admin key.
    pub async fn admin_get(&self, path: &str) -> Result<Value, Error> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.admin_key)
            .send()
            .await
            .map_err(request_failed("GET", path))?;
        json_reply(response, path).await
    }

    /// `POST /v1/decide` with the write key.
    pub async fn decide(&self, body: &Value) -> Result<Value, Error> {
        self.write("/v1/decide", body).await
    }

    /// `POST /v1/batch` with the write key.
    pub async fn batch(&self, messages: &[Value]) -> Result<Value, Error> {
        self.write("/v1/batch", &serde_json::json!({ "batch": messages }))
            .await
    }

    async fn write(&self, path: &str, body: &Value) -> Result<Value, Error> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.write_key)
            .json(body)
            .send()
            .await
            .map_err(request_failed("POST", path))?;
        json_reply(response, path).await
    }

    async fn send_batch(&self, body: String) -> Result<Delivery, Error> {
        let response = self
            .http
            .post(format!("{}/v1/batch", self.base))
            .basic_auth(&self.write_key, None::<&str>)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(request_failed("POST", "/v1/batch"))?;
        let reply = json_reply(response, "/v1/batch").await?;
        if let Some(first) = reply
            .get("rejected")
            .and_then(Value::as_array)
            .and_then(|r| r.first())
        {
            fail!("the server rejected a demo event (a bug in the demo generator): {first}");
        }
        let n = |k: &str| reply.get(k).and_then(Value::as_u64).unwrap_or(0);
        Ok(Delivery {
            accepted: n("accepted"),
            duplicates: n("duplicates"),
        })
    }
}

/// What a request that did not get through becomes.
fn request_failed(method: &str, path: &str) -> impl FnOnce(reqwest::Error) -> Error {
    let request = format!("{method} {path}");
    move |source| Error::Request { request, source }
}

async fn json_reply(response: reqwest::Response, what: &str) -> Result<Value, Error> {
    let status = response.status();
    let text = response.text().await.map_err(|source| Error::Request {
        request: format!("{what}: reading the reply"),
        source,
    })?;
    if !status.is_success() {
        return Err(Error::Refused {
            request: what.to_string(),
            status,
            body: text,
        });
    }
    serde_json::from_str(&text).map_err(|source| Error::Reply {
        request: what.to_string(),
        body: text,
        source,
    })
}

/// Packs events, in order, into `/v1/batch` bodies within Segment's limits. Bodies are
/// built as they are sent, so each event's text is freed once it is packed.
pub struct Batches {
    events: std::iter::Peekable<std::vec::IntoIter<Event>>,
}

impl Batches {
    pub fn new(events: Vec<Event>) -> Batches {
        Batches {
            events: events.into_iter().peekable(),
        }
    }
}

impl Iterator for Batches {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        const OPEN: &str = "{\"batch\":[";
        const CLOSE: &str = "]}";
        let mut body = String::with_capacity(64 * 1024);
        body.push_str(OPEN);
        let mut messages = 0;
        while let Some(e) = self.events.peek() {
            let full = messages == MAX_BATCH_MESSAGES
                || body.len() + 1 + e.json.len() + CLOSE.len() > MAX_BATCH_BYTES;
            if full && messages > 0 {
                break;
            }
            if messages > 0 {
                body.push(',');
            }
            body.push_str(&e.json);
            messages += 1;
            self.events.next();
        }
        if messages == 0 {
            return None;
        }
        body.push_str(CLOSE);
        Some(Batch { body, messages })
    }
}

const BAR_TEMPLATE: &str =
    "  events {bar:40.cyan/blue} {human_pos}/{human_len} ({rate}, {eta} left)";

/// Events sent out of the total; drawn only when stderr is a terminal.
pub fn progress_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(BAR_TEMPLATE) {
        let rate = |state: &ProgressState, out: &mut dyn std::fmt::Write| {
            let _ = write!(out, "{:.0}/s", state.per_sec());
        };
        bar.set_style(style.with_key("rate", rate).progress_chars("=> "));
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: usize, size: usize) -> Event {
        Event {
            at: n as i64,
            shopper: 1,
            seq: n as u32,
            json: format!("{{\"n\":{n},\"pad\":\"{}\"}}", "x".repeat(size)),
        }
    }

    #[test]
    fn batches_stay_within_segment_limits_and_keep_every_event() {
        let events: Vec<Event> = (0..2_345).map(|n| event(n, 100 + (n % 7) * 900)).collect();
        let batches: Vec<Batch> = Batches::new(events).collect();
        let mut seen = 0;
        for b in &batches {
            assert!(b.messages <= 500);
            assert!(b.body.len() < 500 * 1024);
            let v: Value = serde_json::from_str(&b.body).expect("valid JSON");
            let items = v["batch"].as_array().expect("batch array");
            assert_eq!(items.len(), b.messages);
            assert_eq!(items[0]["n"], seen);
            seen += b.messages;
        }
        assert_eq!(seen, 2_345);
        assert!(Batches::new(Vec::new()).next().is_none());
        assert!(ProgressStyle::with_template(BAR_TEMPLATE).is_ok());
    }
}
