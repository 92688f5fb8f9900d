//! Ad audiences: customer-match identifiers (normalized, SHA-256-hashed emails and phone
//! numbers, as Google Ads, Meta and TikTok take them) for people with advertising consent.

use sha2::{Digest, Sha256};

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
}
