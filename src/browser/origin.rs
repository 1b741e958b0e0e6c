//! The suite's own origin: a small HTTP server on loopback that serves this
//! repository's pages (`spa/`: the SPA walk-through and a minimal login UI) to
//! the browser, on a port of its own, so the page runs cross-origin to Kratos'
//! public API (same site: both are `127.0.0.1`).
//!
//! Two listeners, their ports chosen before any Kratos starts (a derived
//! instance names them in its configuration, see
//! [`crate::deployment::Derivation::BrowserOrigin`]; where they are is the
//! run's [`SuiteOrigins`]):
//! - the **allowed** origin `http://127.0.0.1:<port>`, which the derived
//!   instance's CORS allows and whose pages are its UI URLs; the same port under
//!   the name `localhost` is **another site** (`http://localhost:<port>`), also
//!   allowed by CORS, so that only the cookies' `SameSite` differs;
//! - the **refused** origin `http://127.0.0.1:<other port>`, which no derived
//!   instance allows.
//!
//! Where the suite terminates TLS itself (the production topology, whose
//! Kratos sends `Secure` cookies and compares sites by scheme too), the pages
//! are served over HTTPS instead, with a certificate of the run's CA, under
//! names that are not loopback ones: `https://app.<Kratos' site>:<port>` (same
//! site as Kratos, allowed), the same listener as
//! `https://app.kratos-conformance-other-site.test:<port>` (another site,
//! allowed) and `https://app.<Kratos' site>:<other port>` (refused).
//!
//! Pages are addressed per instance (`/i/<instance>/spa`, `/i/<instance>/login`,
//! ...); `/i/<instance>/config.json` tells a page where that instance's public
//! API is, once it runs.

use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Response, StatusCode};
use url::Url;

pub use crate::deployment::SuiteOrigins as Origins;
pub use crate::deployment::origins::OTHER_SITE;
use crate::net::authority::{Authority, Validity};

/// The pages, compiled in: the suite serves exactly what this repository holds.
const FILES: &[(&str, &str, &str)] = &[
    ("spa.html", "text/html; charset=utf-8", include_str!("../../spa/spa.html")),
    ("ui.html", "text/html; charset=utf-8", include_str!("../../spa/ui.html")),
    ("spa.js", "text/javascript; charset=utf-8", include_str!("../../spa/spa.js")),
    ("ui.js", "text/javascript; charset=utf-8", include_str!("../../spa/ui.js")),
    ("style.css", "text/css; charset=utf-8", include_str!("../../spa/style.css")),
];

/// The pages of the login UI, as the derived instance's UI URLs name them.
pub const UI_PAGES: &[&str] = &["login", "settings", "error", "welcome"];

/// An instance's public URL by its name (the run's instances answer it).
pub type PublicUrls = Arc<dyn Fn(&str) -> Option<Url> + Send + Sync>;

/// Binds the two listeners and serves the pages on them until the runtime
/// ends; `https`: over HTTPS, on the site of Kratos' host, with a certificate
/// of the authority (the names resolve to loopback in every client and the
/// browser). Must be called on the runtime (the server's tasks are spawned on it).
pub fn serve(https: Option<(&str, &Authority)>, instances: PublicUrls) -> Result<Origins, String> {
    let listen = || -> Result<(tokio::net::TcpListener, u16), String> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(|e| format!("the suite cannot listen on 127.0.0.1 for its SPA origin: {e}"))?;
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let listener = tokio::net::TcpListener::from_std(listener).map_err(|e| format!("the SPA origin needs the suite's runtime: {e}"))?;
        Ok((listener, port))
    };
    let url = |scheme: &str, host: &str, port: u16| Url::parse(&format!("{scheme}://{host}:{port}/")).expect("a valid URL");
    let (tls, hosts) = match https {
        Some((kratos_host, authority)) => {
            let (allowed_host, other_site_host) = Origins::https_hosts(kratos_host);
            let certificate = authority.issue(&[allowed_host.clone(), other_site_host.clone()], Validity::Current)?;
            let tls = tokio_rustls::TlsAcceptor::from(certificate.server_config(authority)?);
            crate::net::names::register(&allowed_host);
            crate::net::names::register(&other_site_host);
            (Some(tls), Some((allowed_host, other_site_host)))
        }
        None => (None, None),
    };
    let (allowed, allowed_port) = listen()?;
    let (refused, refused_port) = listen()?;
    tokio::spawn(serve_on(allowed, tls.clone(), Arc::clone(&instances)));
    tokio::spawn(serve_on(refused, tls, instances));
    Ok(match hosts {
        Some((allowed_host, other_site_host)) => Origins {
            allowed: url("https", &allowed_host, allowed_port),
            other_site: url("https", &other_site_host, allowed_port),
            refused: url("https", &allowed_host, refused_port),
        },
        None => Origins { allowed: url("http", "127.0.0.1", allowed_port), other_site: url("http", "localhost", allowed_port), refused: url("http", "127.0.0.1", refused_port) },
    })
}

async fn serve_on(listener: tokio::net::TcpListener, tls: Option<tokio_rustls::TlsAcceptor>, instances: PublicUrls) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let tls = tls.clone();
        let instances = Arc::clone(&instances);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let instances = Arc::clone(&instances);
                async move { Ok::<_, Infallible>(route(request.uri().path(), &*instances)) }
            });
            let http = hyper::server::conn::http1::Builder::new();
            match tls {
                // A handshake the browser gives up (an untrusted certificate) ends the connection, nothing else.
                Some(tls) => {
                    if let Ok(stream) = tls.accept(stream).await {
                        let _ = http.serve_connection(hyper_util::rt::TokioIo::new(stream), service).await;
                    }
                }
                None => {
                    let _ = http.serve_connection(hyper_util::rt::TokioIo::new(stream), service).await;
                }
            }
        });
    }
}

/// `/assets/<file>`, `/i/<instance>/config.json`, `/i/<instance>/spa` and the
/// UI pages; anything else is 404.
fn route(path: &str, instances: &(dyn Fn(&str) -> Option<Url> + Send + Sync)) -> Response<Full<Bytes>> {
    if let Some(file) = path.strip_prefix("/assets/") {
        return match FILES.iter().find(|(name, _, _)| *name == file) {
            Some((_, content_type, body)) => respond(StatusCode::OK, content_type, body.to_string()),
            None => not_found(),
        };
    }
    if path == "/favicon.ico" {
        return respond(StatusCode::NO_CONTENT, "image/x-icon", String::new());
    }
    let Some(rest) = path.strip_prefix("/i/") else { return not_found() };
    let Some((instance, page)) = rest.rsplit_once('/') else { return not_found() };
    let instance = percent_decode(instance);
    match page {
        "config.json" => match instances(&instance) {
            Some(public_url) => {
                let config = serde_json::json!({"kratos": public_url.as_str(), "instance": instance});
                respond(StatusCode::OK, "application/json", config.to_string())
            }
            None => respond(StatusCode::NOT_FOUND, "application/json", serde_json::json!({"error": format!("no instance {instance}")}).to_string()),
        },
        "spa" => file("spa.html"),
        page if UI_PAGES.contains(&page) => file("ui.html"),
        _ => not_found(),
    }
}

fn file(name: &str) -> Response<Full<Bytes>> {
    let (_, content_type, body) = FILES.iter().find(|(n, _, _)| *n == name).expect("a page the suite ships");
    respond(StatusCode::OK, content_type, body.to_string())
}

fn respond(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        // Every scenario's page is loaded fresh.
        .header("cache-control", "no-store")
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response")
}

fn not_found() -> Response<Full<Bytes>> {
    respond(StatusCode::NOT_FOUND, "text/plain", "not a page of the suite".into())
}

fn percent_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", text.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}
