//! Ad audiences: customer-match identifiers (normalized, SHA-256-hashed emails and phone
//! numbers) for people with advertising consent, in the forms Google Ads and Meta document
//! for uploads, and the export files in their column formats.
//!
//! - Google Ads Customer Match ("Formatting guidelines for uploading hashed data"): header
//!   `Email,Phone`; emails trimmed and lower-cased (and, for gmail.com, without dots and
//!   `+tags`), phones in E.164 (`+16505551234`), each SHA-256 in lower-case hex.
//! - Meta custom audiences from a customer list: header `email,phone,value`; emails trimmed
//!   and lower-cased, phones as digits with the country code and no `+` (`16505551234`),
//!   each SHA-256 in lower-case hex; `value` is the customer value for value-based lookalikes.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::EngineError;
use crate::profile::Profile;

/// One platform's hashed identifiers of one person.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlatformKeys {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// The hashed identifiers an ad platform matches one person by: what an audience change
/// carries, and all an erasure keeps of a member (see `govern::privacy`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MatchKeys {
    pub google: PlatformKeys,
    pub meta: PlatformKeys,
}

impl MatchKeys {
    /// The keys of a profile's `email` and `phone` traits; `None` when it has neither.
    pub fn of(p: &Profile) -> Option<MatchKeys> {
        let text = |k: &str| p.traits.get(k).and_then(|v| v.value.as_str());
        let email = text("email");
        let phone = text("phone").and_then(normalize_phone);
        let keys = MatchKeys {
            google: PlatformKeys {
                email: email.and_then(normalize_email).map(|e| sha256_hex(&e)),
                phone: phone.as_deref().map(sha256_hex),
            },
            meta: PlatformKeys {
                email: email.and_then(meta_email).map(|e| sha256_hex(&e)),
                phone: phone.as_deref().map(|p| sha256_hex(&p[1..])),
            },
        };
        (keys.google.email.is_some() || keys.google.phone.is_some()).then_some(keys)
    }

    /// As stored with a membership.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Stored keys read back; unreadable ones count as none.
    pub fn parse(stored: Option<&str>) -> Option<MatchKeys> {
        serde_json::from_str(stored?).ok()
    }
}

/// Meta's email form: trimmed and lower-cased, nothing else removed.
fn meta_email(email: &str) -> Option<String> {
    let email = email.trim().to_lowercase();
    let (local, domain) = email.rsplit_once('@')?;
    (!local.is_empty() && domain.contains('.')).then_some(email)
}

/// The upload file formats of `GET /v1/audiences/{name}/export?format=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExportFormat {
    #[default]
    Google,
    Meta,
}

impl ExportFormat {
    pub fn parse(s: &str) -> Result<ExportFormat, EngineError> {
        match s {
            "google" => Ok(ExportFormat::Google),
            "meta" => Ok(ExportFormat::Meta),
            other => Err(tailor_core::ValidationError::one(format!(
                "`format` {other:?} is not one of google, meta"
            ))
            .into()),
        }
    }

    /// The header line.
    pub fn header(self) -> &'static str {
        match self {
            ExportFormat::Google => "Email,Phone\n",
            ExportFormat::Meta => "email,phone,value\n",
        }
    }

    /// One member's line; `None` when the platform has nothing to match them by.
    pub fn row(self, keys: &MatchKeys, value: Option<f64>) -> Option<String> {
        let (k, value) = match self {
            ExportFormat::Google => (&keys.google, None),
            ExportFormat::Meta => (&keys.meta, Some(value)),
        };
        if k.email.is_none() && k.phone.is_none() {
            return None;
        }
        let email = k.email.as_deref().unwrap_or_default();
        let phone = k.phone.as_deref().unwrap_or_default();
        Some(match value {
            None => format!("{email},{phone}\n"),
            Some(v) => {
                let v = v.map(|v| format!("{v:.2}")).unwrap_or_default();
                format!("{email},{phone},{v}\n")
            }
        })
    }
}

/// Trims and lowercases; for gmail.com / googlemail.com also drops dots and `+tags` from
/// the local part, as Google's customer match asks.
pub fn normalize_email(email: &str) -> Option<String> {
    let email = email.trim().to_lowercase();
    let (local, domain) = email.rsplit_once('@')?;
    if local.is_empty() || !domain.contains('.') {
        return None;
    }
    if domain == "gmail.com" || domain == "googlemail.com" {
        let local = local.split('+').next().unwrap_or(local).replace('.', "");
        return Some(format!("{local}@{domain}"));
    }
    Some(email)
}

/// E.164: `+` and digits only. Numbers without a country code cannot be matched and are
/// left out.
pub fn normalize_phone(phone: &str) -> Option<String> {
    let phone = phone.trim();
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    let international = phone.starts_with('+') || phone.starts_with("00");
    let digits = if phone.starts_with("00") {
        digits[2..].to_string()
    } else {
        digits
    };
    (international && (8..=15).contains(&digits.len())).then(|| format!("+{digits}"))
}

pub fn sha256_hex(s: &str) -> String {
    crate::govern::keys::hex(&Sha256::digest(s.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_normalized_before_hashing() {
        assert_eq!(
            normalize_email("  Jane.Doe+shop@GMail.com ").as_deref(),
            Some("janedoe@gmail.com")
        );
        assert_eq!(
            normalize_email("Ann.Lee@Example.org").as_deref(),
            Some("ann.lee@example.org")
        );
        assert_eq!(normalize_email("nobody"), None);
        assert_eq!(
            normalize_phone("+1 (650) 555-1234").as_deref(),
            Some("+16505551234")
        );
        assert_eq!(
            normalize_phone("0049 30 1234567").as_deref(),
            Some("+49301234567")
        );
        assert_eq!(normalize_phone("555-1234"), None);
        // SHA-256 of "test@example.com" (lower-case hex, as the platforms take it).
        assert_eq!(
            sha256_hex("test@example.com"),
            "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"
        );
    }

    #[test]
    fn each_platform_gets_its_own_forms() {
        let google = ExportFormat::Google;
        let meta = ExportFormat::Meta;
        assert_eq!(
            meta_email(" Jane.Doe@GMail.com").as_deref(),
            Some("jane.doe@gmail.com")
        );
        let keys = MatchKeys {
            google: PlatformKeys {
                email: Some("g".into()),
                phone: None,
            },
            meta: PlatformKeys {
                email: Some("m".into()),
                phone: Some("p".into()),
            },
        };
        assert_eq!(google.header(), "Email,Phone\n");
        assert_eq!(google.row(&keys, Some(3.0)).as_deref(), Some("g,\n"));
        assert_eq!(meta.header(), "email,phone,value\n");
        assert_eq!(meta.row(&keys, Some(3.0)).as_deref(), Some("m,p,3.00\n"));
        assert_eq!(meta.row(&keys, None).as_deref(), Some("m,p,\n"));
        assert_eq!(google.row(&MatchKeys::default(), None), None);
        assert!(ExportFormat::parse("tiktok").is_err());
    }
}
