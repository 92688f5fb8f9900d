//! The admin console: counts, a profile lookup, a decision preview, and the prediction
//! models and forecast, using the admin key the operator types in (kept in the page only).
//! The page's script and style are files of their own (`/admin/admin.js`, `/admin/admin.css`):
//! the pages' Content Security Policy runs no inline script (see `headers`).

use axum::extract::State;
use axum::response::Html;

use crate::AppState;

pub async fn admin(State(state): State<AppState>) -> Html<String> {
    let stats = state.engine.stats();
    Html(format!(
        r#"<!doctype html><html><head><meta charset=utf-8><title>Tailor admin</title><link rel=stylesheet href="/admin/admin.css"></head>
<body><header><span class=brand>Tailor admin</span><span>{profiles} profiles · {products} products</span></header><main>
<div class=panel><label>Admin key <input id=key type=password size=50></label></div>
<div class=panel><h2>Profile</h2><label>userId, anonymousId or p_N <input id=pid></label> <button id=go>Look up</button>
<h2>Decision preview</h2><label>placements <input id=pl size=60 value="home.hero,nav.categories,promo.banner,recs.home,checkout.flow"></label> <button id=dec>Decide for this visitor</button>
<h2>Predictions</h2><button id=models>Model versions and their evaluation</button> <button id=forecast>Orders and revenue per category, next 4 weeks</button> <button id=train>Train a new version</button>
<pre id=out>Enter the admin key and a profile id.</pre></div>
<script src="/admin/admin.js"></script></main></body></html>"#,
        profiles = stats.profiles,
        products = stats.products
    ))
}

/// The console's script: each button asks the API with the key typed into the page.
pub const SCRIPT: &str = "
const $ = id => document.getElementById(id);
const headers = () => ({'Authorization': 'Bearer ' + $('key').value, 'Content-Type': 'application/json'});
const show = async r => { $('out').textContent = JSON.stringify(await r.json(), null, 2); };
$('go').onclick = async () => show(await fetch('/v1/profiles/' + encodeURIComponent($('pid').value), {headers: headers()}));
$('models').onclick = async () => show(await fetch('/v1/models', {headers: headers()}));
$('forecast').onclick = async () => show(await fetch('/v1/forecast', {headers: headers()}));
$('train').onclick = async () => show(await fetch('/v1/models/train', {method: 'POST', headers: headers()}));
$('dec').onclick = async () => show(await fetch('/v1/decide', {method: 'POST', headers: headers(),
  body: JSON.stringify({userId: $('pid').value, placements: $('pl').value.split(',').map(s => s.trim())})}));
";
