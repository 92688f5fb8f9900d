//! Consent purposes and how Segment's `context.consent.categoryPreferences` maps onto them.

use serde::{Deserialize, Serialize};

/// What a person's data may be used for. Every use of data names one purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Purpose {
    Analytics,
    Personalization,
    Email,
    Push,
    Sms,
    Advertising,
}

impl Purpose {
    pub const ALL: [Purpose; 6] = [
        Purpose::Analytics,
        Purpose::Personalization,
        Purpose::Email,
        Purpose::Push,
        Purpose::Sms,
        Purpose::Advertising,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Analytics => "analytics",
            Purpose::Personalization => "personalization",
            Purpose::Email => "email",
            Purpose::Push => "push",
            Purpose::Sms => "sms",
            Purpose::Advertising => "advertising",
        }
    }

    pub fn parse(s: &str) -> Option<Purpose> {
        Purpose::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Maps a consent-manager category name (Segment's `categoryPreferences` keys are the
    /// store's own names) onto a purpose. Matching is case-insensitive on common names;
    /// anything else is kept on the profile under its own name but governs no purpose.
    pub fn from_category(name: &str) -> Option<Purpose> {
        let n = name.trim().to_ascii_lowercase();
        let has = |words: &[&str]| words.iter().any(|w| n.contains(w));
        if has(&["analytic", "performance", "measurement", "statistic"]) {
            Some(Purpose::Analytics)
        } else if has(&["personali", "functional", "preference"]) {
            Some(Purpose::Personalization)
        } else if has(&["advertis", "targeting", "marketing", "ads"]) {
            Some(Purpose::Advertising)
        } else if has(&["email", "e-mail", "newsletter"]) {
            Some(Purpose::Email)
        } else if has(&["push"]) {
            Some(Purpose::Push)
        } else if has(&["sms", "text message"]) {
            Some(Purpose::Sms)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_common_consent_categories() {
        assert_eq!(
            Purpose::from_category("Analytics"),
            Some(Purpose::Analytics)
        );
        assert_eq!(
            Purpose::from_category("C0002 Performance"),
            Some(Purpose::Analytics)
        );
        assert_eq!(
            Purpose::from_category("Personalization"),
            Some(Purpose::Personalization)
        );
        assert_eq!(
            Purpose::from_category("Advertising"),
            Some(Purpose::Advertising)
        );
        assert_eq!(Purpose::from_category("Email"), Some(Purpose::Email));
        assert_eq!(Purpose::from_category("Strictly necessary"), None);
        for p in Purpose::ALL {
            assert_eq!(Purpose::parse(p.as_str()), Some(p));
        }
    }
}
