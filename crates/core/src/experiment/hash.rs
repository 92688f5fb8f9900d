//! GrowthBook's assignment hash: a visitor's attribute value and an experiment's seed
//! become a number in [0, 1), the same on every node, after every restart and in every
//! GrowthBook SDK.

/// GrowthBook's `hash(seed, value, version)`.
///
/// Version 1 is GrowthBook's original, slightly biased hash (`fnv(value + seed) % 1000`,
/// three decimals); version 2 is the unbiased one (`fnv(str(fnv(seed + value))) % 10000`,
/// four decimals). Any other version gives `None`, and the SDKs then enroll nobody.
pub fn hash(seed: &str, value: &str, version: u32) -> Option<f64> {
    match version {
        1 => Some(f64::from(fnv1a_32(&format!("{value}{seed}")) % 1_000) / 1_000.0),
        2 => {
            let first = fnv1a_32(&format!("{seed}{value}"));
            Some(f64::from(fnv1a_32(&first.to_string()) % 10_000) / 10_000.0)
        }
        _ => None,
    }
}

/// FNV-1a, 32 bits, over UTF-16 code units rather than bytes: the JavaScript SDK feeds
/// it `charCodeAt(i)`, so non-ASCII values only hash alike if we do the same.
fn fnv1a_32(text: &str) -> u32 {
    const OFFSET_BASIS: u32 = 0x811c_9dc5;
    const PRIME: u32 = 0x0100_0193;
    text.encode_utf16().fold(OFFSET_BASIS, |hash, unit| {
        (hash ^ u32::from(unit)).wrapping_mul(PRIME)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_published_test_vectors() {
        // From the FNV reference (http://www.isthe.com/chongo/tech/comp/fnv/).
        assert_eq!(fnv1a_32(""), 0x811c_9dc5);
        assert_eq!(fnv1a_32("a"), 0xe40c_292c);
        assert_eq!(fnv1a_32("foobar"), 0xbf9c_f968);
    }

    #[test]
    fn non_ascii_values_hash_by_utf16_code_unit() {
        // 'é' is one UTF-16 unit (0xE9) but two UTF-8 bytes (0xC3 0xA9).
        let one_unit = (0x811c_9dc5_u32 ^ 0xE9).wrapping_mul(0x0100_0193);
        assert_eq!(fnv1a_32("é"), one_unit);
        // An astral character is two surrogates, 0xD83D 0xDE00.
        let two_units = [0xD83D_u32, 0xDE00]
            .iter()
            .fold(0x811c_9dc5_u32, |h, u| (h ^ u).wrapping_mul(0x0100_0193));
        assert_eq!(fnv1a_32("😀"), two_units);
    }

    #[test]
    fn unknown_hash_versions_enroll_nobody() {
        assert_eq!(hash("seed", "a", 0), None);
        assert_eq!(hash("seed", "a", 3), None);
    }

    #[test]
    fn hashes_stay_in_the_unit_interval() {
        for value in ["", "a", "123", "user-42", "ünïcode"] {
            for version in [1, 2] {
                let n = hash("exp", value, version).expect("known version");
                assert!((0.0..1.0).contains(&n), "{value} v{version}: {n}");
            }
        }
    }
}
