//! The three kinds of client Kratos serves, and the types they read.
//!
//! - **browser**: HTML forms and redirects. Form-encoded posts, `Accept: text/html`,
//!   a cookie jar; it plays the UI's part itself by fetching flows by id.
//! - **SPA**: AJAX from a browser app. The browser endpoints with
//!   `Accept: application/json`, JSON bodies, a cookie jar, the CSRF token in the body.
//! - **native**: an app using the API endpoints. JSON, no cookies (Kratos rejects
//!   API-flow submits that carry any), the session as `X-Session-Token`.
//!
//! No client follows redirects: every `303` and its `Location` is for a check to see.

pub mod error;
pub mod flow;
pub mod http;
mod actions;
mod enroll;
mod sessions;
pub mod race;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use reqwest::Method;
use serde_json::{Map, Value};

pub use error::KratosError;
pub use flow::{Flow, Message, Node};
pub use http::{Body, Exchange, Http, Late, Request, Transcript};
pub use sessions::Credentials;

use crate::kratos::Kratos;

const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
const JSON: &str = "application/json";

/// In steps: `{client}` matches `browser`, `SPA` or `native`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, cucumber::Parameter)]
#[param(name = "client", regex = "browser|SPA|spa|native")]
pub enum ClientKind {
    Browser,
    Spa,
    Native,
}

impl FromStr for ClientKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "browser" => Ok(ClientKind::Browser),
            "spa" | "SPA" => Ok(ClientKind::Spa),
            "native" => Ok(ClientKind::Native),
            other => Err(format!("unknown client \"{other}\": browser, spa or native")),
        }
    }
}

impl fmt::Display for ClientKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClientKind::Browser => "browser",
            ClientKind::Spa => "SPA",
            ClientKind::Native => "native",
        })
    }
}

/// A flow id no Kratos issued: a version 4 UUID, like Kratos' own ids.
pub const UNISSUED_FLOW_ID: &str = "8a3d05e2-5f53-4a0b-9c31-7f2b8c1e4d60";

/// The self-service flows, by the name Kratos uses in their paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowKind {
    Login,
    Registration,
    Settings,
    Recovery,
}

impl FlowKind {
    pub fn path(self) -> &'static str {
        match self {
            FlowKind::Login => "login",
            FlowKind::Registration => "registration",
            FlowKind::Recovery => "recovery",
            FlowKind::Settings => "settings",
        }
    }
}

/// One client of one kind, talking to one Kratos.
#[derive(Debug, Clone)]
pub struct Client {
    pub kind: ClientKind,
    pub http: Http,
    pub kratos: Arc<Kratos>,
    /// The native client's session token (`X-Session-Token`).
    pub session_token: Option<String>,
}

impl Client {
    pub fn new(kind: ClientKind, kratos: Arc<Kratos>, transcript: Transcript) -> Client {
        let timeout = kratos.limits.http_timeout;
        let http = Http::new(kind != ClientKind::Native, transcript, timeout).with_gate(kratos.gate.clone());
        Client { kind, http, kratos, session_token: None }
    }

    /// Sends this client's requests to replica `number` (1-based) alone, with
    /// the same cookies and token, or, with `None`, to the deployment as a
    /// whole again. What is addressed to the deployment's public URL or its
    /// base URL (`ui.action`, redirects) goes to the replica's own URL.
    pub fn send_to_replica(&mut self, number: Option<usize>) -> anyhow::Result<()> {
        let to = match number {
            None => None,
            Some(n) => Some(self.kratos.replica(n).map_err(anyhow::Error::msg)?.public_url.clone()),
        };
        let from = [&self.kratos.public_url, &self.kratos.deployment.public_base_url];
        self.http = self.http.routed(to.as_ref().map(|to| (&from[..], to)));
        Ok(())
    }

    /// A request with the headers this kind of client always sends.
    pub fn request(&self, method: Method, url: url::Url, body: Body) -> Request {
        let accept = if self.kind == ClientKind::Browser { BROWSER_ACCEPT } else { JSON };
        let mut request = Request::new(method, url, body).header("accept", accept);
        if let Some(token) = &self.session_token {
            request = request.header("x-session-token", token.clone());
        }
        request
    }

    /// `GET /self-service/<flow>/browser` (browser, SPA) or `/api` (native).
    pub async fn start_flow(&self, flow: FlowKind, query: &[(&str, &str)]) -> anyhow::Result<Exchange> {
        self.start_flow_with(flow, query, &[]).await
    }

    /// The same, with extra headers (a cookie replayed as it was kept).
    pub async fn start_flow_with(&self, flow: FlowKind, query: &[(&str, &str)], headers: &[(String, String)]) -> anyhow::Result<Exchange> {
        let endpoint = if self.kind == ClientKind::Native { "api" } else { "browser" };
        let mut url = self.kratos.public(&format!("self-service/{}/{endpoint}", flow.path()));
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let mut request = self.request(Method::GET, url, Body::Empty);
        for (name, value) in headers {
            request = request.header(name, value.clone());
        }
        self.http.send(request).await
    }

    /// The CORS preflight a browser sends before a page on `origin` posts JSON
    /// to `url` (`OPTIONS` with `Origin`, `Access-Control-Request-Method` and
    /// `-Headers`).
    pub async fn preflight(&self, url: url::Url, origin: &str) -> anyhow::Result<Exchange> {
        let request = self
            .request(Method::OPTIONS, url, Body::Empty)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type");
        self.http.send(request).await
    }

    /// Any request to Kratos with this client's credentials, as JSON.
    pub async fn send_json(&self, method: Method, url: url::Url) -> anyhow::Result<Exchange> {
        let request = self.request(method, url, Body::Empty);
        self.http.send(with_accept(request, JSON)).await
    }

    /// `GET /self-service/<flow>/flows?id=`, as a UI fetches a flow (always JSON).
    pub async fn fetch_flow(&self, flow: FlowKind, id: &str) -> anyhow::Result<Exchange> {
        let mut url = self.kratos.public(&format!("self-service/{}/flows", flow.path()));
        url.query_pairs_mut().append_pair("id", id);
        let request = self.request(Method::GET, url, Body::Empty);
        self.http.send(with_accept(request, JSON)).await
    }

    /// Submits `fields` to a flow's `ui.action`: form-encoded for the browser,
    /// JSON for SPA and native clients.
    pub async fn submit(&self, action: &str, fields: Vec<(String, Value)>) -> anyhow::Result<Exchange> {
        self.submit_with(action, fields, &[], Vec::new()).await
    }

    /// The same, with extra headers (for the error paths) and fields made only
    /// when the request's turn at Kratos comes (TOTP codes, see [`Late`]).
    pub async fn submit_with(
        &self,
        action: &str,
        fields: Vec<(String, Value)>,
        headers: &[(String, String)],
        late: Vec<(String, Late)>,
    ) -> anyhow::Result<Exchange> {
        let body = match self.kind {
            ClientKind::Browser => {
                let mut form = Vec::new();
                for (name, value) in fields {
                    flatten_into(&mut form, name, value);
                }
                Body::Form(form)
            }
            _ => Body::Json(Value::Object(fields.into_iter().collect::<Map<_, _>>())),
        };
        let mut request = self.request(Method::POST, url::Url::parse(action)?, body);
        for (name, value) in headers {
            request = request.header(name, value.clone());
        }
        for (field, value) in late {
            request = request.late(&field, value);
        }
        self.http.send(request).await
    }

    /// Submits a body as it is, with extra headers (for the error paths).
    pub async fn submit_body(&self, action: &str, body: Body, headers: &[(String, String)]) -> anyhow::Result<Exchange> {
        let url = url::Url::parse(action)?;
        let mut request = self.request(Method::POST, url, body);
        for (name, value) in headers {
            request = request.header(name, value.clone());
        }
        self.http.send(request).await
    }

    /// Takes the session token from a native client's successful login or
    /// registration (`{"session_token": ...}`), and keeps it for later requests.
    pub fn keep_session_token(&mut self, exchange: &Exchange) {
        if let Some(token) = exchange.json().ok().and_then(|b| b.get("session_token")?.as_str().map(str::to_string)) {
            crate::redact::register(token.clone());
            self.session_token = Some(token);
        }
    }

    /// `GET /sessions/whoami` with this client's cookie or token.
    pub async fn whoami(&self) -> anyhow::Result<Exchange> {
        let request = self.request(Method::GET, self.kratos.public("sessions/whoami"), Body::Empty);
        self.http.send(with_accept(request, JSON)).await
    }

    /// The flow an exchange leads to: the JSON body for SPA and native clients, or,
    /// for a browser redirected to the UI with `?flow=<id>`, the flow fetched by id
    /// (what the UI would do).
    pub async fn flow_from(&self, flow: FlowKind, exchange: &Exchange) -> anyhow::Result<Flow> {
        if exchange.status.is_redirection() {
            let location = exchange.location().ok_or_else(|| anyhow::anyhow!("a redirect without Location\n{exchange}"))?;
            let id = flow_id_in(location).ok_or_else(|| anyhow::anyhow!("the redirect names no flow\n{exchange}"))?;
            let fetched = self.fetch_flow(flow, &id).await?;
            if fetched.status != reqwest::StatusCode::OK {
                anyhow::bail!("fetching flow {id} answered {}\n{fetched}", fetched.status);
            }
            return Flow::from_json(fetched.json()?);
        }
        Flow::from_json(exchange.json()?).map_err(|e| anyhow::anyhow!("{e}\n{exchange}"))
    }
}

pub(crate) fn with_accept(mut request: Request, accept: &str) -> Request {
    request.headers.retain(|(n, _)| !n.eq_ignore_ascii_case("accept"));
    request.header("accept", accept)
}

/// An HTML form names nested fields with dots: `traits.name.first`.
fn flatten_into(form: &mut Vec<(String, String)>, name: String, value: Value) {
    match value {
        Value::Object(fields) => {
            for (key, value) in fields {
                flatten_into(form, format!("{name}.{key}"), value);
            }
        }
        Value::String(s) => form.push((name, s)),
        other => form.push((name, other.to_string())),
    }
}

/// The `flow` query parameter of a URL.
pub fn flow_id_in(location: &str) -> Option<String> {
    let url = url::Url::parse(location).ok()?;
    url.query_pairs().find(|(k, _)| k == "flow").map(|(_, v)| v.into_owned())
}
