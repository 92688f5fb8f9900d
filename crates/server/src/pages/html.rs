//! Small HTML helpers shared by the pages.

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a path segment.
pub fn url(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub const STYLE: &str = "
label.pref{display:inline-block;min-width:13rem;margin:.2rem .6rem .2rem 0}fieldset{border:1px solid #ddd;border-radius:6px;margin:.6rem 0}
body{font-family:system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#1f2937;color:#fff;padding:.8rem 1.5rem;display:flex;gap:1.2rem;align-items:center;flex-wrap:wrap}
header a{color:#fff;text-decoration:none}header .brand{font-weight:700;font-size:1.2rem}
nav a{margin-right:.9rem;opacity:.9}nav a:hover{opacity:1;text-decoration:underline}
main{padding:1rem 1.5rem;max-width:1200px;margin:auto}
.why{font-size:.8rem;color:#6b7280;font-style:italic;margin:.2rem 0 .8rem}
.hero{background:linear-gradient(120deg,#4f46e5,#06b6d4);color:#fff;border-radius:12px;padding:2rem;margin:.5rem 0}
.hero h1{margin:0 0 .4rem}.promo{background:#fef3c7;border:1px solid #f59e0b;border-radius:8px;padding:.7rem 1rem;margin:.8rem 0}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(180px,1fr));gap:.8rem}
.card{background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:.8rem}.card h3{font-size:.95rem;margin:.2rem 0}
.card .price{font-weight:600}.card .reason{font-size:.75rem;color:#6b7280}
.who{margin-left:auto;font-size:.85rem}.who select,.who button{font-size:.85rem}
.panel{background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:1rem;margin:.8rem 0}
button.primary{background:#4f46e5;color:#fff;border:0;border-radius:6px;padding:.5rem 1rem;cursor:pointer}
";
