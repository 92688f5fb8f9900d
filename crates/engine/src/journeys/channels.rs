//! The providers messages leave through: email over SMTP (lettre) and signed webhooks
//! (Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`), for push and
//! any other provider. Each send carries the outbox key as its idempotency key: the email's
//! `Message-ID`, the webhook's `webhook-id`.

use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The channels a journey step can send on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Channel {
    Email,
    Push,
    Webhook,
    /// A message on the website: the `onsite.message` placement of `decide` shows it on the
    /// person's next pages until it is dismissed, expires or was seen `maxViews` times.
    Onsite,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Push => "push",
            Channel::Webhook => "webhook",
            Channel::Onsite => "onsite",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        [
            Channel::Email,
            Channel::Push,
            Channel::Webhook,
            Channel::Onsite,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

/// Where messages go; unset parts make their channel fail visibly (dead letters).
#[derive(Debug, Clone, Default)]
pub struct ChannelConfig {
    /// `smtp://host:port` (plain SMTP, e.g. a local relay; no TLS in this build).
    pub smtp_url: Option<String>,
    pub email_from: Option<String>,
    /// Where push messages are posted (a push provider or a relay to one).
    pub push_url: Option<String>,
    /// The Standard Webhooks signing secret (`whsec_` + base64, or raw text).
    pub webhook_secret: Option<String>,
}

/// A failed send; `retry`: worth trying again later (provider down, timeout, 5xx).
#[derive(Debug, Clone, PartialEq)]
pub struct SendError {
    pub retry: bool,
    pub message: String,
}

impl SendError {
    fn permanent(message: impl Into<String>) -> Self {
        SendError {
            retry: false,
            message: message.into(),
        }
    }
    fn transient(message: impl Into<String>) -> Self {
        SendError {
            retry: true,
            message: message.into(),
        }
    }
}

pub struct Channels {
    config: ChannelConfig,
    http: Option<reqwest::blocking::Client>,
}

const TIMEOUT: Duration = Duration::from_secs(10);

impl Channels {
    pub fn new(config: ChannelConfig) -> Channels {
        let http = reqwest::blocking::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| tracing::error!(error = %e, "no HTTP client: webhooks will fail"))
            .ok();
        Channels { config, http }
    }

    pub fn push_url(&self) -> Option<&str> {
        self.config.push_url.as_deref()
    }

    /// Sends a plain-text email with `key` as its Message-ID.
    pub fn email(&self, key: &str, to: &str, subject: &str, body: &str) -> Result<(), SendError> {
        use lettre::message::header::ContentType;
        use lettre::{SmtpTransport, Transport};
        let Some(url) = &self.config.smtp_url else {
            return Err(SendError::permanent(
                "email is not configured: set TAILOR_SMTP_URL (smtp://host:port)",
            ));
        };
        let (host, port) = parse_smtp_url(url).ok_or_else(|| {
            SendError::permanent(format!("TAILOR_SMTP_URL {url:?} is not smtp://host:port"))
        })?;
        let from = self
            .config
            .email_from
            .as_deref()
            .unwrap_or("Tailor <tailor@localhost>");
        let message = lettre::Message::builder()
            .from(
                from.parse()
                    .map_err(|e| SendError::permanent(format!("sender {from:?}: {e}")))?,
            )
            .to(to
                .parse()
                .map_err(|e| SendError::permanent(format!("address {to:?}: {e}")))?)
            .subject(subject)
            .message_id(Some(format!("<{}@tailor>", sanitize_id(key))))
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_string())
            .map_err(|e| SendError::permanent(format!("cannot build the email: {e}")))?;
        let transport = SmtpTransport::builder_dangerous(host)
            .port(port)
            .timeout(Some(TIMEOUT))
            .build();
        transport.send(&message).map(|_| ()).map_err(|e| {
            if e.is_permanent() {
                SendError::permanent(format!("SMTP refused: {e}"))
            } else {
                SendError::transient(format!("SMTP: {e}"))
            }
        })
    }

    /// Posts `body` to `url`, signed.
    pub fn webhook(
        &self,
        url: &str,
        key: &str,
        now: tailor_core::Millis,
        body: &str,
    ) -> Result<(), SendError> {
        let Some(http) = &self.http else {
            return Err(SendError::transient("no HTTP client"));
        };
        let timestamp = (now / 1000).to_string();
        let mut request = http
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", key)
            .header("webhook-timestamp", &timestamp);
        if let Some(secret) = &self.config.webhook_secret {
            request = request.header("webhook-signature", sign(secret, key, &timestamp, body));
        }
        let response = request
            .body(body.to_string())
            .send()
            .map_err(|e| SendError::transient(format!("{url}: {e}")))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 {
            Err(SendError::transient(format!("{url} answered {status}")))
        } else {
            Err(SendError::permanent(format!("{url} answered {status}")))
        }
    }
}

/// `v1,` + base64 HMAC-SHA256 of `{id}.{timestamp}.{body}` (Standard Webhooks).
pub fn sign(secret: &str, id: &str, timestamp: &str, body: &str) -> String {
    let key = match secret.strip_prefix("whsec_") {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap_or_else(|_| secret.as_bytes().to_vec()),
        None => secret.as_bytes().to_vec(),
    };
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("HMAC takes keys of any length");
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    let digest = mac.finalize().into_bytes();
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

fn parse_smtp_url(url: &str) -> Option<(String, u16)> {
    let rest = url.strip_prefix("smtp://")?;
    let rest = rest.trim_end_matches('/');
    match rest.rsplit_once(':') {
        Some((host, port)) => Some((host.to_string(), port.parse().ok()?)),
        None => Some((rest.to_string(), 25)),
    }
}

/// A Message-ID's local part may not hold every character a key does.
fn sanitize_id(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-._".contains(c) {
                c
            } else {
                '.'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_webhooks_signature_matches_the_reference() {
        // The example of the Standard Webhooks specification's reference libraries.
        let sig = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "1614265330",
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn smtp_urls() {
        assert_eq!(
            parse_smtp_url("smtp://127.0.0.1:2525"),
            Some(("127.0.0.1".into(), 2525))
        );
        assert_eq!(parse_smtp_url("smtp://mail"), Some(("mail".into(), 25)));
        assert_eq!(parse_smtp_url("http://x"), None);
    }
}
