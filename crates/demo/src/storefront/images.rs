//! The demo store's pictures: an SVG for every product and banner, drawn from what the
//! catalog says of it (a product's department, colour, name and brand; a banner's title),
//! so the same product always gets the same picture and no image file ships with the demo.
//! Served at the `image_url`s the catalog gives (`/img/sku-00001.svg`,
//! `/img/hero-women.svg`, …). Every text is escaped: names come from the catalog, which
//! any admin may fill.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tailor_core::{ContentItem, Product};

use super::Storefront;

/// `GET /img/{file}`: the product or content item whose `image_url` this is.
pub(super) async fn image(State(store): State<Storefront>, Path(file): Path<String>) -> Response {
    let Some(id) = file.strip_suffix(".svg") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let svg = if let Some(p) = store.engine.product(id) {
        product_svg(&p)
    } else {
        let url = format!("/img/{file}");
        let found = store
            .engine
            .content(None)
            .into_iter()
            .find(|c| c.image_url.as_deref() == Some(url.as_str()));
        match found {
            Some(item) => banner_svg(&item),
            None => return StatusCode::NOT_FOUND.into_response(),
        }
    };
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        svg,
    )
        .into_response()
}

/// A product's picture: its colour, its department's shape, its name and brand.
pub fn product_svg(p: &Product) -> String {
    let color = p
        .attributes
        .get("color")
        .and_then(|c| c.as_str())
        .and_then(named_color)
        .unwrap_or_else(|| PALETTE[hash(&p.id) % PALETTE.len()]);
    let department = p.category.first().map_or("", String::as_str);
    let (first, second) = two_lines(&p.name, 22);
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="400" height="400" viewBox="0 0 400 400" role="img" aria-label="{label}">
<rect width="400" height="400" fill="#f6f3ee"/>
<circle cx="200" cy="165" r="120" fill="{tint}"/>
<g transform="translate(200 165)" fill="{color}" stroke="#00000033" stroke-width="3">{glyph}</g>
<text x="200" y="330" font-family="Helvetica, Arial, sans-serif" font-size="22" text-anchor="middle" fill="#222">{first}</text>
<text x="200" y="358" font-family="Helvetica, Arial, sans-serif" font-size="22" text-anchor="middle" fill="#222">{second}</text>
<text x="200" y="386" font-family="Helvetica, Arial, sans-serif" font-size="15" text-anchor="middle" fill="#666">{brand}</text>
</svg>
"##,
        label = escape(&p.name),
        tint = tint(department),
        glyph = glyph(department),
        first = escape(&first),
        second = escape(&second),
        brand = escape(p.brand.as_deref().unwrap_or("")),
    )
}

/// A banner's picture: a wide band in a colour of its own with its title.
pub fn banner_svg(item: &ContentItem) -> String {
    let title = if item.title.is_empty() {
        &item.id
    } else {
        &item.title
    };
    let color = PALETTE[hash(&item.id) % PALETTE.len()];
    let accent = PALETTE[(hash(&item.id) / 7 + 3) % PALETTE.len()];
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="300" viewBox="0 0 1200 300" role="img" aria-label="{label}">
<defs><linearGradient id="g" x1="0" x2="1"><stop offset="0" stop-color="{color}"/><stop offset="1" stop-color="{accent}"/></linearGradient></defs>
<rect width="1200" height="300" fill="url(#g)"/>
<circle cx="1050" cy="60" r="180" fill="#ffffff22"/><circle cx="980" cy="290" r="120" fill="#ffffff1a"/>
<text x="60" y="170" font-family="Helvetica, Arial, sans-serif" font-size="56" font-weight="bold" fill="#ffffff">{title}</text>
</svg>
"##,
        label = escape(title),
        title = escape(title),
    )
}

/// Colours a shade apart, for what has no colour of its own.
const PALETTE: &[&str] = &[
    "#3b5b8c", "#8c3b5b", "#3b8c6e", "#8c6e3b", "#5b3b8c", "#2f7f8f", "#9a4f2f", "#4f6f2f",
];

/// The demo catalog's colour names (catalog.rs), as colours.
fn named_color(name: &str) -> Option<&'static str> {
    Some(match name {
        "Black" => "#222222",
        "White" => "#fafafa",
        "Navy" => "#1f3a5f",
        "Olive" => "#6b7a3a",
        "Burgundy" => "#7a2233",
        "Sand" => "#d8c3a0",
        "Grey" => "#8a8f98",
        "Blush" => "#e8b4b8",
        "Forest" => "#2f5d3a",
        "Sky" => "#7fb8e6",
        "Silver" => "#c0c4c8",
        "Graphite" => "#41464d",
        "Blue" => "#2b6cb0",
        _ => return None,
    })
}

fn tint(department: &str) -> &'static str {
    match department {
        "Women" => "#f3dfe3",
        "Men" => "#dfe6f0",
        "Home" => "#efe6d6",
        "Beauty" => "#f5e3ef",
        "Sports" => "#dcefe2",
        "Electronics" => "#e1e3ea",
        _ => "#e8e8e8",
    }
}

/// A simple shape per department, centred on the origin.
fn glyph(department: &str) -> &'static str {
    match department {
        // A dress.
        "Women" => r#"<path d="M-30 -80 h60 l-10 40 l55 110 h-150 l55 -110 z"/>"#,
        // A shirt.
        "Men" => {
            r#"<path d="M-35 -75 l-55 30 l20 35 l25 -12 v95 h90 v-95 l25 12 l20 -35 l-55 -30 q-35 25 -70 0 z"/>"#
        }
        // A house.
        "Home" => r#"<path d="M-80 0 l80 -75 l80 75 v75 h-160 z"/>"#,
        // A bottle.
        "Beauty" => {
            r#"<rect x="-15" y="-85" width="30" height="30" rx="4"/><rect x="-45" y="-55" width="90" height="130" rx="18"/>"#
        }
        // A ball.
        "Sports" => r#"<circle r="75"/><path d="M-75 0 h150 M0 -75 v150" fill="none"/>"#,
        // A screen.
        "Electronics" => {
            r#"<rect x="-85" y="-60" width="170" height="105" rx="8"/><rect x="-30" y="50" width="60" height="14"/>"#
        }
        _ => r#"<rect x="-60" y="-60" width="120" height="120" rx="12"/>"#,
    }
}

/// Splits a name into two lines of at most about `width` characters, at a space.
fn two_lines(text: &str, width: usize) -> (String, String) {
    if text.chars().count() <= width {
        return (text.to_string(), String::new());
    }
    let mut first = String::new();
    let mut words = text.split(' ').peekable();
    while let Some(w) = words.peek() {
        if !first.is_empty() && first.chars().count() + 1 + w.chars().count() > width {
            break;
        }
        if !first.is_empty() {
            first.push(' ');
        }
        first.push_str(w);
        words.next();
    }
    (first, words.collect::<Vec<_>>().join(" "))
}

/// FNV-1a: a stable number from an id (the same on every platform and run).
fn hash(text: &str) -> usize {
    let mut h: u32 = 0x811c_9dc5;
    for b in text.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    h as usize
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if (c as u32) < 0x20 => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn product(name: &str, color: &str) -> Product {
        Product::from_json(
            json!({"id": "sku-1", "name": name, "category": "Women/Dresses",
            "brand": "Aurelia", "price": 79.99, "attributes": {"color": color}}),
        )
        .expect("a valid product")
    }

    #[test]
    fn a_product_picture_is_the_same_every_time_and_shows_its_colour_and_name() {
        let p = product("Aurelia Linen Wrap Dress", "Navy");
        assert_eq!(product_svg(&p), product_svg(&p));
        let svg = product_svg(&p);
        assert!(
            svg.contains("#1f3a5f") && svg.contains("Aurelia Linen Wrap") && svg.contains("Dress")
        );
        assert_ne!(
            svg,
            product_svg(&product("Aurelia Linen Wrap Dress", "Olive"))
        );
    }

    #[test]
    fn names_are_escaped() {
        let svg = product_svg(&product("<script>alert(1)</script> & \"co\"", "Black"));
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;") && svg.contains("&amp;"));
    }

    #[test]
    fn long_names_wrap_at_a_space() {
        let (a, b) = two_lines("Harbor & Pine Tailored Chelsea Boots", 22);
        assert_eq!(
            (a.as_str(), b.as_str()),
            ("Harbor & Pine Tailored", "Chelsea Boots")
        );
    }
}
