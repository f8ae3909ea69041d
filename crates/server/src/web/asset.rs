//! Vendored static files, served same-origin (the CSP's `script-src 'self'` allows nothing else) and
//! included in pages with their Subresource Integrity hash.
//!
//! Pinned versions, from the npm registry (`npm pack`; the tarballs' `dist.integrity` checked against
//! `npm view <pkg>@<version> dist.integrity`), files copied unchanged from the tarball's `dist/`:
//! - `htmx.org@2.0.11` `dist/htmx.min.js` (Zero-Clause BSD) →
//!   `sha384-2OatzQy1H+Zd/IIrjr1TcuDGqLXeHhbooAyJY1KdQMKnr4LZ22k31GBLdYKHmVjg`
//! - `htmx-ext-sse@2.2.4` `dist/sse.min.js` (Zero-Clause BSD) →
//!   `sha384-A986SAtodyH8eg8x8irJnYUk7i9inVQqYigD6qZ9evobksGNIXfeFvDwLSHcp31N`
//!
//! The same list is in `crates/server/assets/vendor/README.md`. To upgrade: replace the file, change
//! its path and hash here and in `templates/layout.html`; the unit test below recomputes each hash.
//! htmx is configured (in `layout.html`) not to inject its indicator `<style>`, not to `eval` and not to
//! run `<script>` tags it swaps in, so it needs nothing more from the CSP.

use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};

/// A vendored file.
pub struct Asset {
    /// Where it is served (the version is in the name, so a new version is a new URL).
    pub path: &'static str,
    /// Its Subresource Integrity value, as `layout.html` writes it.
    pub integrity: &'static str,
    pub body: &'static str,
}

impl Asset {
    pub fn serve(&self) -> Response {
        (
            [(CONTENT_TYPE, "text/javascript; charset=utf-8")],
            self.body,
        )
            .into_response()
    }
}

/// htmx 2.0.11.
pub const HTMX: Asset = Asset {
    path: "/assets/vendor/htmx-2.0.11.min.js",
    integrity: "sha384-2OatzQy1H+Zd/IIrjr1TcuDGqLXeHhbooAyJY1KdQMKnr4LZ22k31GBLdYKHmVjg",
    body: include_str!("../../assets/vendor/htmx-2.0.11.min.js"),
};

/// htmx's server-sent-events extension 2.2.4.
pub const HTMX_SSE: Asset = Asset {
    path: "/assets/vendor/htmx-ext-sse-2.2.4.min.js",
    integrity: "sha384-A986SAtodyH8eg8x8irJnYUk7i9inVQqYigD6qZ9evobksGNIXfeFvDwLSHcp31N",
    body: include_str!("../../assets/vendor/htmx-ext-sse-2.2.4.min.js"),
};

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use sha2::{Digest, Sha384};

    #[test]
    fn the_vendored_files_match_their_pinned_integrity_hashes_and_the_layout_uses_them() {
        let layout = include_str!("../../templates/layout.html");
        for a in [&HTMX, &HTMX_SSE] {
            let hash = base64::engine::general_purpose::STANDARD.encode(Sha384::digest(a.body));
            assert_eq!(a.integrity, format!("sha384-{hash}"), "{}", a.path);
            let tag = format!(r#"src="{}" integrity="{}""#, a.path, a.integrity);
            assert!(
                layout.contains(&tag),
                "layout.html loads {} with its hash",
                a.path
            );
        }
    }
}
