//! Forcing a variation from the page URL (`?my-experiment=1`), so a merchandiser can
//! preview each variant on the live page without being enrolled.

/// GrowthBook's `getQueryStringOverride`: the variation index that the query parameter
/// named `key` asks for, if it is a valid index for `num_variations` variations.
///
/// Like the SDK, the value is read with JavaScript's `parseInt` (so `1abc` means 1 and
/// `2.5` means 2), parameter names are compared without URL-decoding, and only the text
/// between the first and second `?` is searched.
pub fn get_query_string_override(key: &str, url: &str, num_variations: usize) -> Option<usize> {
    let search = url.split('?').nth(1)?;
    let search = search.split('#').next().unwrap_or_default();
    let requested = search.split('&').find_map(|pair| {
        let mut parts = pair.split('=');
        (parts.next() == Some(key)).then(|| parts.next().and_then(js_parse_int))
    })??;
    (requested >= 0.0 && requested < num_variations as f64).then_some(requested as usize)
}

/// JavaScript's `parseInt(text)` without a radix: leading white space, an optional sign,
/// `0x` for hexadecimal, then as many digits as there are. `None` where it gives `NaN`.
fn js_parse_int(text: &str) -> Option<f64> {
    let text = text.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    let (sign, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (-1.0, &text[1..]),
        Some(b'+') => (1.0, &text[1..]),
        _ => (1.0, text),
    };
    let (radix, digits) = match unsigned.get(..2) {
        Some("0x" | "0X") => (16, &unsigned[2..]),
        _ => (10, unsigned),
    };
    let mut value: Option<f64> = None;
    for digit in digits.chars().map_while(|c| c.to_digit(radix)) {
        value = Some(value.unwrap_or(0.0) * f64::from(radix) + f64::from(digit));
    }
    value.map(|v| sign * v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_int_reads_like_javascript() {
        assert_eq!(js_parse_int("1"), Some(1.0));
        assert_eq!(js_parse_int("  12abc"), Some(12.0));
        assert_eq!(js_parse_int("2.054"), Some(2.0));
        assert_eq!(js_parse_int("-1"), Some(-1.0));
        assert_eq!(js_parse_int("0x1f"), Some(31.0));
        assert_eq!(js_parse_int("foo"), None);
        assert_eq!(js_parse_int(""), None);
        assert_eq!(js_parse_int("0x"), None);
    }

    #[test]
    fn the_first_matching_parameter_decides() {
        let url = "https://shop.example/?hero=7&hero=1";
        assert_eq!(get_query_string_override("hero", url, 2), None);
        assert_eq!(get_query_string_override("hero", url, 8), Some(7));
    }

    #[test]
    fn a_parameter_without_a_value_forces_nothing() {
        assert_eq!(get_query_string_override("hero", "/?hero", 2), None);
        assert_eq!(get_query_string_override("hero", "/?hero=", 2), None);
    }
}
