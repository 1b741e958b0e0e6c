//! Makes a recorded exchange stable from run to run, so the flow documentation
//! changes only when Kratos' behaviour does: ids, times, ports, tokens and the
//! fake people are replaced by placeholders; secrets are already redacted.
//!
//! Ids keep their identity within a scenario (`<id-1>` is the same flow wherever
//! it appears), so a reader can follow which flow each request is about.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::{Captures, Regex};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::client::{Body, Exchange};
use crate::identity::Person;
use crate::redact;

/// The addresses of docker-compose.yml: what a reader running it would see.
pub const DOCS_PUBLIC: &str = "http://127.0.0.1:4433/";
pub const DOCS_ADMIN: &str = "http://127.0.0.1:4434/";

static UUID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").expect("valid"));
static RFC3339: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})").expect("valid"));
static GO_TIME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)? [+-]\d{4} [A-Z]+").expect("valid"));
static HTTP_DATE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT").expect("valid"));
static CSRF_COOKIE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"csrf_token_[0-9a-f]{64}").expect("valid"));
static MINUTES_AGO: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"expired \d+(\.\d+)? minutes ago").expect("valid"));
static SESSION_MAX_AGE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"Max-Age=8639\d|Max-Age=86400").expect("valid"));
static QR_PNG: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"data:image/png;base64,[A-Za-z0-9+/=]+").expect("valid"));

/// JSON fields whose values change every run and say nothing about behaviour.
const VOLATILE_NUMBERS: &[&str] = &["since", "expired_at_unix", "used_at_unix"];

/// The normalizer of one scenario.
pub struct Normalizer {
    replacements: Vec<(String, String)>,
    ids: HashMap<String, usize>,
}

impl Normalizer {
    /// `public` and `admin`: the base URLs of the Kratos the scenario used.
    pub fn new(public: &str, admin: &str, people: &[Person]) -> Normalizer {
        let mut replacements = Vec::new();
        for (actual, docs) in [(public, DOCS_PUBLIC), (admin, DOCS_ADMIN)] {
            let (actual, docs) = (actual.trim_end_matches('/'), docs.trim_end_matches('/'));
            replacements.push((actual.to_string(), docs.to_string()));
            replacements.push((urlencode(actual), urlencode(docs)));
        }
        for (n, person) in people.iter().enumerate() {
            let n = n + 1;
            let email = person.trait_str("email").unwrap_or_default().to_string();
            replacements.push((email.clone(), format!("person-{n}@example.org")));
            replacements.push((urlencode(&email), urlencode(&format!("person-{n}@example.org"))));
            replacements.push((person.trait_str("name.first").unwrap_or_default().to_string(), format!("First{n}")));
            replacements.push((person.trait_str("name.last").unwrap_or_default().to_string(), format!("Last{n}")));
        }
        // Longest first, so that a name inside an email is not replaced on its own.
        replacements.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
        Normalizer { replacements, ids: HashMap::new() }
    }

    /// Any text: a URL, a header value, a message.
    pub fn text(&mut self, text: &str) -> String {
        let mut out = redact::text(text);
        for (from, to) in &self.replacements {
            if !from.is_empty() && out.contains(from.as_str()) {
                out = out.replace(from.as_str(), to);
            }
        }
        let docs_csrf = format!("csrf_token_{:x}", Sha256::digest(DOCS_PUBLIC));
        out = CSRF_COOKIE.replace_all(&out, docs_csrf.as_str()).into_owned();
        out = QR_PNG.replace_all(&out, "data:image/png;base64,<the QR code as a PNG>").into_owned();
        out = RFC3339.replace_all(&out, "<time>").into_owned();
        out = GO_TIME.replace_all(&out, "<time>").into_owned();
        out = HTTP_DATE
            .replace_all(&out, |c: &Captures| if c[0].contains("1970") { c[0].to_string() } else { "<date>".to_string() })
            .into_owned();
        out = MINUTES_AGO.replace_all(&out, "expired <n> minutes ago").into_owned();
        out = SESSION_MAX_AGE.replace_all(&out, "Max-Age=<86399 or 86400>").into_owned();
        let ids = &mut self.ids;
        UUID.replace_all(&out, |c: &Captures| {
            let next = ids.len() + 1;
            format!("<id-{}>", ids.entry(c[0].to_string()).or_insert(next))
        })
        .into_owned()
    }

    /// A JSON body, with the volatile numbers and addresses replaced.
    pub fn json(&mut self, value: &Value) -> Value {
        let mut value = redact::json(value);
        sort_hidden_traits(&mut value);
        self.walk(&mut value, None);
        value
    }

    fn walk(&mut self, value: &mut Value, key: Option<&str>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    self.walk(v, Some(k));
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.walk(v, key)),
            Value::Number(_) if key.is_some_and(|k| VOLATILE_NUMBERS.contains(&k)) => {
                *value = Value::String(format!("<{}>", key.unwrap_or_default()));
            }
            Value::String(_) if key == Some("ip_address") => *value = Value::String("<the client's address>".into()),
            Value::String(s) => *s = self.text(s),
            _ => {}
        }
    }

    /// `METHOD url`, normalized.
    pub fn request_line(&mut self, exchange: &Exchange) -> String {
        format!("{} {}", exchange.method, self.text(exchange.url.as_str()))
    }

    /// The exchange as the documentation shows it.
    pub fn exchange(&mut self, exchange: &Exchange) -> String {
        let mut out = format!("{}\n", self.request_line(exchange));
        for (name, value) in &exchange.request_headers {
            if name == "user-agent" {
                continue;
            }
            let mut value = self.text(&redact::header(name, value));
            if name.eq_ignore_ascii_case("cookie") {
                // The cookie jar sends its cookies in no fixed order.
                let mut pairs: Vec<&str> = value.split("; ").collect();
                pairs.sort_unstable();
                value = pairs.join("; ");
            }
            out.push_str(&format!("{name}: {value}\n"));
        }
        match &exchange.request_body {
            Body::Empty => {}
            Body::Form(fields) => {
                let encoded = serde_urlencoded::to_string(fields).unwrap_or_default();
                out.push_str(&format!("\n{}\n", self.text(&redact::form(&encoded))));
            }
            Body::Json(value) => {
                let body = serde_json::to_string_pretty(&self.json(value)).unwrap_or_default();
                out.push_str(&format!("\n{body}\n"));
            }
            Body::Raw { bytes, .. } => out.push_str(&format!("\n{}\n", self.text(&String::from_utf8_lossy(bytes)))),
        }
        out.push_str(&format!("\n→ {}\n", exchange.status));
        for (name, value) in &exchange.headers {
            if matches!(name.as_str(), "date" | "content-length" | "vary" | "cache-control") {
                continue;
            }
            let value = self.text(&redact::header(name.as_str(), value.to_str().unwrap_or("<binary>")));
            out.push_str(&format!("{name}: {value}\n"));
        }
        if !exchange.body.is_empty() {
            let body = match serde_json::from_slice::<Value>(&exchange.body) {
                Ok(json) => serde_json::to_string_pretty(&self.json(&json)).unwrap_or_default(),
                Err(_) => self.text(&exchange.body_text()).trim_end().to_string(),
            };
            out.push_str(&format!("\n{body}\n"));
        }
        out
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The second step of registration repeats the traits as hidden nodes in no
/// fixed order (Kratos walks a Go map); sort them by name so pages are stable.
fn sort_hidden_traits(value: &mut Value) {
    let Some(nodes) = value.pointer_mut("/ui/nodes").and_then(Value::as_array_mut) else { return };
    let is_hidden_trait = |n: &Value| {
        n.pointer("/attributes/type").and_then(Value::as_str) == Some("hidden")
            && n.pointer("/attributes/name").and_then(Value::as_str).is_some_and(|name| name.starts_with("traits."))
    };
    let slots: Vec<usize> = nodes.iter().enumerate().filter(|(_, n)| is_hidden_trait(n)).map(|(i, _)| i).collect();
    let mut hidden: Vec<Value> = slots.iter().map(|i| nodes[*i].clone()).collect();
    hidden.sort_by(|a, b| a.pointer("/attributes/name").and_then(Value::as_str).cmp(&b.pointer("/attributes/name").and_then(Value::as_str)));
    for (slot, node) in slots.into_iter().zip(hidden) {
        nodes[slot] = node;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_times_and_addresses_become_placeholders() {
        let mut n = Normalizer::new("http://127.0.0.1:41234/", "http://127.0.0.1:41235/", &[]);
        let text = n.text(
            "http://127.0.0.1:41234/self-service/login?flow=0b6b8f0e-6f7c-4a53-9a36-0d3f1f4f1e0a at 2026-11-28T09:46:36.123Z, \
             again 0b6b8f0e-6f7c-4a53-9a36-0d3f1f4f1e0a, then 1c6b8f0e-6f7c-4a53-9a36-0d3f1f4f1e0a; \
             Expires=Sun, 29 Nov 2026 09:46:36 GMT; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=86399",
        );
        assert_eq!(
            text,
            "http://127.0.0.1:4433/self-service/login?flow=<id-1> at <time>, again <id-1>, then <id-2>; \
             Expires=<date>; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=<86399 or 86400>"
        );
    }

    #[test]
    fn volatile_numbers_and_hidden_trait_order() {
        let mut n = Normalizer::new("http://a:1/", "http://a:2/", &[]);
        let body = serde_json::json!({"since": 123, "ui": {"nodes": [
            {"attributes": {"type": "hidden", "name": "traits.name.last"}},
            {"attributes": {"type": "hidden", "name": "traits.email"}},
            {"attributes": {"type": "submit", "name": "method"}}
        ]}});
        let out = n.json(&body);
        assert_eq!(out["since"], "<since>");
        assert_eq!(out["ui"]["nodes"][0]["attributes"]["name"], "traits.email");
        assert_eq!(out["ui"]["nodes"][2]["attributes"]["name"], "method");
    }
}
