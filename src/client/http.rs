//! The one HTTP helper: every request of the suite goes through [`Http::send`],
//! which applies the timeout, never follows redirects, and records the exchange so
//! that a failing check can print it (redacted).

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use reqwest_cookie_store::{CookieStore, CookieStoreMutex};
use tokio::sync::Semaphore;
use serde_json::Value;
use url::Url;

use crate::redact;

/// How long a request may wait for its turn at a Kratos instance.
const GATE_TIMEOUT: Duration = Duration::from_secs(60);

/// What a request carries.
#[derive(Debug, Clone)]
pub enum Body {
    Empty,
    /// `application/x-www-form-urlencoded`, as an HTML form posts it.
    Form(Vec<(String, String)>),
    /// `application/json`.
    Json(Value),
    /// Bytes sent as they are, for malformed bodies.
    Raw { content_type: String, bytes: Vec<u8> },
}

#[derive(Clone)]
pub struct Request {
    pub method: Method,
    pub url: Url,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    /// Fields whose value is made only when the request's turn at Kratos has
    /// come (a TOTP code: made earlier, a wait for the turn could move it into
    /// another time step).
    pub late: Vec<(String, Late)>,
}

/// A value made at the last moment (a TOTP code, which is why it is TOTP's type).
pub use crate::totp::Late;

impl Request {
    pub fn get(url: Url) -> Self {
        Request { method: Method::GET, url, headers: Vec::new(), body: Body::Empty, late: Vec::new() }
    }

    pub fn new(method: Method, url: Url, body: Body) -> Self {
        Request { method, url, headers: Vec::new(), body, late: Vec::new() }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// A body field whose value is made when the request's turn comes.
    pub fn late(mut self, field: &str, value: Late) -> Self {
        self.late.push((field.to_string(), value));
        self
    }

    /// The body with the late fields filled in, or how long to wait first.
    fn with_late_fields(&self) -> Result<Body, Duration> {
        let mut body = self.body.clone();
        for (field, make) in &self.late {
            let value = make()?;
            match &mut body {
                Body::Json(Value::Object(map)) => {
                    map.insert(field.clone(), Value::String(value));
                }
                Body::Form(fields) => fields.push((field.clone(), value)),
                _ => {}
            }
        }
        Ok(body)
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let late: Vec<&str> = self.late.iter().map(|(field, _)| field.as_str()).collect();
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("url", &redact::text(self.url.as_str()))
            .field("late", &late)
            .finish_non_exhaustive()
    }
}

/// One request and the response to it, as they went over the wire.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: Method,
    pub url: Url,
    /// The request headers, including the `Cookie` header the jar added.
    pub request_headers: Vec<(String, String)>,
    pub request_body: Body,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// When the request was sent, and how long the answer took.
    pub at: SystemTime,
    pub elapsed: Duration,
}

impl Exchange {
    /// A failure about this exchange, printed under `message`: every check's
    /// failure, and a client's own, shows the exchange that broke it this way.
    pub fn failure(&self, message: impl fmt::Display) -> anyhow::Error {
        anyhow::anyhow!("{message}\n--- the exchange ---\n{self}")
    }

    /// The body as JSON, or an error that shows the exchange.
    pub fn json(&self) -> anyhow::Result<Value> {
        serde_json::from_slice(&self.body).map_err(|e| anyhow::anyhow!("the response body is not JSON ({e})\n{self}"))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn location(&self) -> Option<&str> {
        self.header("location")
    }

    /// Every `Set-Cookie` header, parsed.
    pub fn set_cookies(&self) -> Vec<cookie_store::RawCookie<'static>> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| cookie_store::RawCookie::parse(v.to_string()).ok())
            .collect()
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl fmt::Display for Exchange {
    /// The exchange as a person reads it, with every secret redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "> {} {}", self.method, redact::text(self.url.as_str()))?;
        for (name, value) in &self.request_headers {
            writeln!(f, "> {name}: {}", redact::header(name, value))?;
        }
        match &self.request_body {
            Body::Empty => {}
            Body::Form(fields) => {
                let encoded = serde_urlencoded::to_string(fields).unwrap_or_default();
                writeln!(f, ">\n> {}", redact::form(&encoded))?;
            }
            Body::Json(value) => writeln!(f, ">\n> {}", redact::json(value))?,
            Body::Raw { bytes, .. } => writeln!(f, ">\n> {}", redact::text(&String::from_utf8_lossy(bytes)))?,
        }
        writeln!(f, "< {} ({} ms)", self.status, self.elapsed.as_millis())?;
        for (name, value) in &self.headers {
            if matches!(name.as_str(), "date" | "content-length" | "vary" | "cache-control") {
                continue;
            }
            writeln!(f, "< {name}: {}", redact::header(name.as_str(), value.to_str().unwrap_or("<binary>")))?;
        }
        if !self.body.is_empty() {
            let body = match serde_json::from_slice::<Value>(&self.body) {
                Ok(json) => serde_json::to_string_pretty(&redact::json(&json)).unwrap_or_default(),
                Err(_) => redact::text(&self.body_text()),
            };
            writeln!(f, "<")?;
            for line in body.lines() {
                writeln!(f, "< {line}")?;
            }
        }
        Ok(())
    }
}

/// The exchanges of one scenario, in order; shared by all its clients. Its id
/// goes with every request (`X-Conformance-Scenario`), so that Kratos' log
/// lines about the scenario can be told from those of scenarios running beside it.
#[derive(Debug, Clone)]
pub struct Transcript {
    id: Arc<String>,
    exchanges: Arc<Mutex<Vec<Exchange>>>,
}

impl Default for Transcript {
    fn default() -> Self {
        Transcript { id: Arc::new(crate::random::nonce(16)), exchanges: Default::default() }
    }
}

/// The header that carries the scenario's correlation id.
pub const SCENARIO_HEADER: &str = "x-conformance-scenario";

impl Transcript {
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn push(&self, exchange: Exchange) {
        self.exchanges.lock().expect("not poisoned").push(exchange);
    }

    pub fn last(&self) -> Option<Exchange> {
        self.exchanges.lock().expect("not poisoned").last().cloned()
    }

    pub fn all(&self) -> Vec<Exchange> {
        self.exchanges.lock().expect("not poisoned").clone()
    }
}

/// An HTTP client with a timeout on every call, redirects off and, for browser
/// and SPA clients, a cookie jar of its own.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
    jar: Option<Arc<CookieStoreMutex>>,
    transcript: Transcript,
    timeout: Duration,
    gate: Option<Arc<Semaphore>>,
    /// Requests to the first origin go to the second instead (a client pinned
    /// to one replica: its listener at the proxy, or the URL a team named).
    route: Option<(Vec<url::Origin>, Url)>,
}

impl Http {
    pub fn new(with_cookies: bool, transcript: Transcript, timeout: Duration) -> Self {
        // The jar is not reqwest's cookie provider: `send` reads and fills it
        // for the URL a request is addressed to, which for a client routed to
        // one replica is not the replica's own URL (another host, maybe).
        let jar = with_cookies.then(|| Arc::new(CookieStoreMutex::new(CookieStore::default())));
        let client = crate::net::client_builder(timeout).build().expect("the HTTP client builds");
        Http { client, jar, transcript, timeout, gate: None, route: None }
    }

    /// The same client (same jar, transcript and gate), sending what it would
    /// send to `from`'s origin to `to`'s instead; `None` sends it where it is
    /// addressed again. Cookies do not depend on ports, so a replica's listener
    /// on another port of the same host gets the same cookies.
    pub fn routed(&self, route: Option<(&[&Url], &Url)>) -> Http {
        let mut routed = self.clone();
        routed.route = route.map(|(from, to)| (from.iter().map(|u| u.origin()).collect(), to.clone()));
        routed
    }

    /// Where a request for `url` goes.
    fn destination(&self, url: &Url) -> Url {
        match &self.route {
            Some((from, to)) if from.contains(&url.origin()) => {
                let mut routed = url.clone();
                // Same scheme and host by construction of the routes; the port and host are set anyway.
                let _ = routed.set_scheme(to.scheme());
                let _ = routed.set_host(to.host_str());
                let _ = routed.set_port(to.port());
                routed
            }
            _ => url.clone(),
        }
    }

    /// The same client without its cookie jar (same transcript, timeout and
    /// gate): for requests that must carry only the credentials a scenario gives.
    pub fn without_cookies(&self) -> Http {
        let mut plain = Http::new(false, self.transcript.clone(), self.timeout);
        plain.gate = self.gate.clone();
        plain.route = self.route.clone();
        plain
    }

    /// Sends every request through `gate` (see [`crate::kratos::Kratos::gate`]).
    pub fn with_gate(mut self, gate: Arc<Semaphore>) -> Self {
        self.gate = Some(gate);
        self
    }

    pub fn transcript(&self) -> &Transcript {
        &self.transcript
    }

    /// Sends the request and records the exchange. Transport errors (refused,
    /// timed out) are errors; every HTTP status is a response for the checks.
    pub async fn send(&self, request: Request) -> anyhow::Result<Exchange> {
        // The turn first: late fields (TOTP codes) are made once it has come.
        // Cookies as a browser keeps them: for the address it uses, whichever
        // replica the request is routed to.
        let addressed = request.url.clone();
        let mut request = request;
        request.url = self.destination(&request.url);
        let (_turn, sent_body) = loop {
            let turn = match &self.gate {
                Some(gate) => Some(
                    tokio::time::timeout(GATE_TIMEOUT, gate.clone().acquire_owned())
                        .await
                        .map_err(|_| anyhow::anyhow!("waited {GATE_TIMEOUT:?} for a turn to send a request to Kratos (raise KRATOS_MAX_CONCURRENT_REQUESTS?)"))?
                        .expect("the gate is never closed"),
                ),
                None => None,
            };
            match request.with_late_fields() {
                Ok(body) => break (turn, body),
                Err(wait) => {
                    drop(turn);
                    tokio::time::sleep(wait).await;
                }
            }
        };
        let mut headers = HeaderMap::new();
        for (name, value) in &request.headers {
            headers.append(HeaderName::from_bytes(name.as_bytes())?, HeaderValue::from_str(value)?);
        }
        headers.insert(SCENARIO_HEADER, HeaderValue::from_str(self.transcript.id())?);
        let mut recorded_headers = request.headers.clone();
        recorded_headers.push((SCENARIO_HEADER.into(), self.transcript.id().to_string()));
        // A Cookie header the request carries itself (a scenario replaying one) replaces the jar's.
        if let Some(cookie) = self.cookie_header(&addressed)
            && !request.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("cookie"))
        {
            headers.insert(reqwest::header::COOKIE, HeaderValue::from_str(&cookie)?);
            recorded_headers.push(("cookie".into(), cookie));
        }
        let mut builder = self.client.request(request.method.clone(), request.url.clone()).headers(headers);
        builder = match &sent_body {
            Body::Empty => builder,
            Body::Form(fields) => builder.form(fields),
            Body::Json(value) => builder.json(value),
            Body::Raw { content_type, bytes } => builder.header("content-type", content_type).body(bytes.clone()),
        };
        if let Some(content_type) = match &sent_body {
            Body::Form(_) => Some("application/x-www-form-urlencoded"),
            Body::Json(_) => Some("application/json"),
            Body::Raw { content_type, .. } => Some(content_type.as_str()),
            Body::Empty => None,
        } {
            recorded_headers.push(("content-type".into(), content_type.into()));
        }
        let started = Instant::now();
        let at = SystemTime::now();
        let response = builder.send().await.map_err(|e| {
            let why = if e.is_timeout() && !crate::net::tls::is_tls_failure(&e) {
                format!("no answer within {:?} (KRATOS_HTTP_TIMEOUT)", self.timeout)
            } else {
                crate::net::tls::explain(&e)
            };
            anyhow::anyhow!("{} {}: {why}", request.method, redact::text(request.url.as_str()))
        })?;
        let status = response.status();
        let headers = response.headers().clone();
        if let Some(jar) = &self.jar {
            use reqwest::cookie::CookieStore as _;
            jar.set_cookies(&mut headers.get_all(reqwest::header::SET_COOKIE).iter(), &addressed);
        }
        let body = response.bytes().await.map_err(|e| anyhow::anyhow!("reading the response body failed: {e}"))?.to_vec();
        // Kratos has answered: the next request may go, while this one is looked at.
        drop(_turn);
        // Cookie values are secrets wherever they turn up later (a Kratos log
        // line with leak_sensitive_values on, an error message).
        for cookie in headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()) {
            if let Some((_, value)) = cookie.split(';').next().and_then(|pair| pair.split_once('=')) {
                redact::register(value);
            }
        }
        if let Ok(json) = serde_json::from_slice::<Value>(&body) {
            redact::register_from_json(&json);
        }
        let exchange = Exchange {
            method: request.method,
            url: request.url,
            request_headers: recorded_headers,
            request_body: sent_body,
            status,
            headers,
            body,
            at,
            elapsed: started.elapsed(),
        };
        self.transcript.push(exchange.clone());
        Ok(exchange)
    }

    /// The cookies the jar holds (with their attributes), for `url`'s host.
    pub fn cookies(&self, url: &Url) -> Vec<cookie_store::Cookie<'static>> {
        let Some(jar) = &self.jar else { return Vec::new() };
        let store = jar.lock().expect("not poisoned");
        store.matches(url).into_iter().map(|c| c.clone().into_owned()).collect()
    }

    /// Empties the jar, as a browser that clears its cookies.
    pub fn clear_cookies(&self) {
        if let Some(jar) = &self.jar {
            jar.lock().expect("not poisoned").clear();
        }
    }

    pub fn has_cookie_jar(&self) -> bool {
        self.jar.is_some()
    }

    /// The `Cookie` header the jar would send to `url` now.
    pub fn cookie_header_for(&self, url: &Url) -> Option<String> {
        self.cookie_header(url)
    }

    /// Drops one cookie from the jar, as a browser whose cookie was deleted
    /// (or never sent by a proxy).
    pub fn remove_cookie(&self, url: &Url, name: &str) {
        if let Some(jar) = &self.jar {
            let mut store = jar.lock().expect("not poisoned");
            let found: Vec<(String, String)> = store
                .matches(url)
                .into_iter()
                .filter(|c| c.name() == name)
                .map(|c| (String::from(&c.domain), String::from(&c.path)))
                .collect();
            for (domain, path) in found {
                store.remove(&domain, &path, name);
            }
        }
    }

    fn cookie_header(&self, url: &Url) -> Option<String> {
        let jar = self.jar.as_ref()?;
        let store = jar.lock().expect("not poisoned");
        let pairs: Vec<String> = store.get_request_values(url).map(|(n, v)| format!("{n}={v}")).collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_routed_client_sends_what_it_addresses_to_the_deployment_to_its_replica_and_nothing_else() {
        let public = Url::parse("https://auth.example.test:9443/").unwrap();
        let base = Url::parse("https://auth.example.test/").unwrap();
        let replica = Url::parse("https://auth.example.test:9445/").unwrap();
        let http = Http::new(true, Transcript::default(), Duration::from_secs(1)).routed(Some((&[&public, &base], &replica)));
        let to = |u: &str| http.destination(&Url::parse(u).unwrap()).to_string();
        assert_eq!(to("https://auth.example.test:9443/self-service/login?flow=1"), "https://auth.example.test:9445/self-service/login?flow=1");
        assert_eq!(to("https://auth.example.test/sessions/whoami"), "https://auth.example.test:9445/sessions/whoami");
        // The admin API and the UI are not the replica's.
        assert_eq!(to("http://127.0.0.1:4434/admin/identities"), "http://127.0.0.1:4434/admin/identities");
        assert_eq!(to("https://app.example.test:9443/login"), "https://app.example.test:9443/login");
        assert!(http.without_cookies().route.is_some());
        assert_eq!(http.routed(None).destination(&public), public);
    }
}
