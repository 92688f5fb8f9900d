//! HTML of the storefront and admin pages.

use crate::AppState;

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

pub fn storefront(state: &AppState, write_key: &str) -> String {
    let products = state.engine.products(None);
    let cards: String = products
        .iter()
        .take(24)
        .map(|p| {
            format!(
                "<div class=card data-id=\"{id}\" data-category=\"{cat}\" data-price=\"{price}\"><h3>{name}</h3><p>{cat}</p><p>{price:.2} {cur}</p><button class=view>View</button> <button class=add>Add to cart</button></div>",
                id = esc(&p.id),
                cat = esc(&p.category_path()),
                name = esc(&p.name),
                price = p.price,
                cur = esc(&p.currency)
            )
        })
        .collect();
    format!(
        r#"<!doctype html><html><head><meta charset=utf-8><title>Tailor demo store</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem}}.grid{{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:1rem}}.card{{border:1px solid #ddd;border-radius:8px;padding:1rem}}</style></head>
<body><h1>Tailor demo store</h1><p>{n} products. Events go to Tailor with the write key.</p><div class=grid>{cards}</div>
<script>
const KEY={key:?};
const anon=localStorage.tailorAnon||(localStorage.tailorAnon='anon-'+Math.random().toString(36).slice(2));
function send(path,body){{return fetch(path,{{method:'POST',headers:{{'Content-Type':'application/json','Authorization':'Basic '+btoa(KEY+':')}},body:JSON.stringify(Object.assign({{anonymousId:anon}},body))}});}}
send('/v1/page',{{name:'Home'}});
document.querySelectorAll('.card').forEach(c=>{{const p={{product_id:c.dataset.id,category:c.dataset.category,price:+c.dataset.price}};
c.querySelector('.view').onclick=()=>send('/v1/track',{{event:'Product Viewed',properties:p}});
c.querySelector('.add').onclick=()=>send('/v1/track',{{event:'Product Added',properties:p}});}});
</script></body></html>"#,
        n = products.len(),
        key = write_key
    )
}

pub fn admin(state: &AppState) -> String {
    let stats = state.engine.stats();
    format!(
        r#"<!doctype html><html><head><meta charset=utf-8><title>Tailor admin</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem}}pre{{background:#f5f5f5;padding:1rem}}</style></head>
<body><h1>Tailor admin</h1><p>{profiles} profiles, {products} products.</p>
<p><label>Admin key <input id=key type=password size=40></label> <label>Profile (userId, anonymousId or p_N) <input id=pid></label> <button id=go>Look up</button></p>
<pre id=out></pre>
<script>
document.getElementById('go').onclick=async()=>{{const r=await fetch('/v1/profiles/'+encodeURIComponent(pid.value),{{headers:{{Authorization:'Bearer '+key.value}}}});out.textContent=JSON.stringify(await r.json(),null,2);}};
</script></body></html>"#,
        profiles = stats.profiles,
        products = stats.products
    )
}
