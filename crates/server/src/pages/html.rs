//! The pages' style, served as a file (`/admin/admin.css`).

pub const STYLE: &str = "
body{font-family:system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#1f2937;color:#fff;padding:.8rem 1.5rem;display:flex;gap:1.2rem;align-items:center;flex-wrap:wrap}
header a{color:#fff;text-decoration:none}header .brand{font-weight:700;font-size:1.2rem}
main{padding:1rem 1.5rem;max-width:1200px;margin:auto}
.panel{background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:1rem;margin:.8rem 0}
pre{background:#f3f4f6;padding:1rem;overflow:auto;max-height:32rem}
";
