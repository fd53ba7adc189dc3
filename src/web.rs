//! The browser client (`web/`), embedded in the binary and served at `/`, `/app.js`,
//! `/style.css` and `/js/*.js`.
//!
//! The files are plain ES modules with no build step; `include_str!` puts them in the binary
//! so `cargo run --release` serves the client with nothing else on disk. Every response says
//! `Cache-Control: no-cache` so a browser revalidates after an upgrade instead of mixing old
//! and new modules. The page reads its invite token from `/?token=...` itself, so `/` serves
//! the same `index.html` whatever the query string.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// One embedded file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static str,
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// The page itself.
pub const INDEX: Asset = Asset {
    path: "/",
    content_type: HTML,
    body: include_str!("../web/index.html"),
};

/// The top-level files other than the page.
pub const TOP: [Asset; 2] = [
    Asset {
        path: "/app.js",
        content_type: JS,
        body: include_str!("../web/app.js"),
    },
    Asset {
        path: "/style.css",
        content_type: CSS,
        body: include_str!("../web/style.css"),
    },
];

/// The modules under `web/js/`, by file name.
pub const MODULES: [(&str, &str); 4] = [
    ("conn.js", include_str!("../web/js/conn.js")),
    ("store.js", include_str!("../web/js/store.js")),
    ("render.js", include_str!("../web/js/render.js")),
    ("util.js", include_str!("../web/js/util.js")),
];

fn respond(content_type: &'static str, body: &'static str) -> Response {
    let mut res = body.into_response();
    let headers = res.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

/// The page's Content-Security-Policy.
pub const CSP: &str =
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
    connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

async fn index() -> Response {
    let mut res = respond(INDEX.content_type, INDEX.body);
    // The page keeps the invite token in the URL until its script strips it; do not leak it
    // to other origins through the Referer header.
    res.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // Only this origin's scripts run, and the page talks only to its own server (the bars of
    // the charts set their widths in `style` attributes, hence 'unsafe-inline' for styles).
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    res
}

async fn module(Path(name): Path<String>) -> Response {
    match MODULES.iter().find(|(n, _)| *n == name) {
        Some((_, body)) => respond(JS, body),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "no such file\n",
        )
            .into_response(),
    }
}

/// Routes for the client; merge into the app's router before `with_state`.
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let mut r = Router::new()
        .route(INDEX.path, get(index))
        .route("/index.html", get(index))
        .route("/js/{name}", get(module));
    for asset in TOP {
        r = r.route(
            asset.path,
            get(move || async move { respond(asset.content_type, asset.body) }),
        );
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_the_page_imports_is_embedded() {
        let sources = std::iter::once(TOP[0].body).chain(MODULES.iter().map(|(_, b)| *b));
        for src in sources {
            for line in src
                .lines()
                .filter(|l| l.trim_start().starts_with("import "))
            {
                let Some(spec) = line.split(['\'', '"']).nth(1) else {
                    continue;
                };
                let file = spec.rsplit('/').next().unwrap_or(spec);
                assert!(
                    MODULES.iter().any(|(n, _)| *n == file),
                    "`{line}` imports `{file}`, which src/web.rs does not embed"
                );
            }
        }
        assert!(INDEX.body.contains("/app.js") && INDEX.body.contains("/style.css"));
    }
}
