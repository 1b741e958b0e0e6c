//! Makes a recorded exchange stable from run to run, so the flow documentation
//! changes only when Kratos' behaviour does: ids, times, ports, tokens and the
//! fake people are replaced by placeholders; secrets are already redacted.
//!
//! Ids keep their identity within a scenario (`<id-1>` is the same flow wherever
//! it appears), so a reader can follow which flow each request is about.
//!
//! A person's trait values are replaced only where they stand whole: a JSON
//! string, a form field, a query parameter of a URL, a header value. Names are
//! short and words contain them (Pat in `Path=/`, Max in `Max-Age`, Gene in
//! `Generate`), and a form sends `O'Conner` as `O%27Conner`, so they are never
//! looked for inside other text.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

use regex::{Captures, Regex};
use serde_json::Value;
use sha2::{Digest, Sha256};
use url::{Url, form_urlencoded};

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
/// A `Max-Age`: a session cookie's is counted down from the session's expiry
/// to the second; the CSRF cookie's is a constant year.
static MAX_AGE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"Max-Age=(\d+)").expect("valid"));
static QR_PNG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"data:image/png;base64,(\[redacted[^\]]*\]|[A-Za-z0-9+/=]+)").expect("valid"));
/// An attribute of a page that is a URL: Go's redirect page links the Location.
static HREF: LazyLock<Regex> = LazyLock::new(|| Regex::new(r#"href="([^"]*)""#).expect("valid"));

/// JSON fields whose values change every run and say nothing about behaviour.
const VOLATILE_NUMBERS: &[&str] = &["since", "expired_at_unix", "used_at_unix", "privileged_session_expires_at_unix"];

/// The normalizer of one scenario.
pub struct Normalizer {
    /// The scenario's base URLs, as they are and URL-encoded (as in `return_to=`),
    /// each with what stands for it in the documentation; longest first.
    base_urls: Vec<(String, String)>,
    /// Every trait value of the scenario's people, as given and lower-cased
    /// (Kratos stores password identifiers lower-cased and sends them back so),
    /// with the placeholder that stands for it.
    person_values: HashMap<String, String>,
    /// The password identifiers among them, each with its placeholder.
    identifier_values: Vec<(String, String)>,
    /// The CSRF cookie's name is a hash of the public base URL.
    docs_csrf_cookie: String,
    ids: HashMap<String, usize>,
    /// The session lifespans of the instances the scenario used, in seconds.
    session_lifespans: Vec<u64>,
    /// The longest a session of the scenario can have lived when Kratos
    /// counted its cookie's `Max-Age`, in seconds: the scenario's own time.
    longest_session_age: u64,
}

impl Normalizer {
    /// `public` and `admin`: the base URLs of the Kratos the scenario used;
    /// `people`: the scenario's people, `person-1` first.
    pub fn new(public: &str, admin: &str, people: &[Person]) -> Normalizer {
        let mut base_urls = Vec::new();
        add_base_urls(&mut base_urls, public, admin);

        let placeholders: Vec<(String, String)> =
            people.iter().enumerate().flat_map(|(index, person)| placeholders_of(index + 1, person)).collect();
        let mut person_values = HashMap::new();
        // Values as given first: one person's value is not taken by another's
        // that only lower-cases to it.
        for (value, placeholder) in &placeholders {
            person_values.entry(value.clone()).or_insert_with(|| placeholder.clone());
        }
        for (value, placeholder) in placeholders {
            person_values.entry(value.to_lowercase()).or_insert(placeholder);
        }
        // As the suite sends an identifier, as the trait holds it, and as Kratos keeps it.
        let mut identifier_values: Vec<(String, String)> = Vec::new();
        for person in people {
            for identifier in &person.identifiers {
                let as_trait = person.trait_str(&identifier.trait_path).unwrap_or_default();
                for value in [identifier.value.as_str(), as_trait].into_iter().flat_map(|v| [v.to_string(), v.to_lowercase()]) {
                    if let Some(placeholder) = person_values.get(&value)
                        && !identifier_values.iter().any(|(taken, _)| *taken == value)
                    {
                        identifier_values.push((value, placeholder.clone()));
                    }
                }
            }
        }
        let docs_csrf_cookie = format!("csrf_token_{:x}", Sha256::digest(DOCS_PUBLIC));
        Normalizer {
            base_urls,
            person_values,
            identifier_values,
            docs_csrf_cookie,
            ids: HashMap::new(),
            session_lifespans: Vec::new(),
            longest_session_age: 0,
        }
    }

    /// The session lifespans of the instances the scenario used, and the
    /// scenario's own time: a cookie's `Max-Age` from `lifespan − age` up to
    /// `lifespan` is a session's, counted down from its lifespan by how long
    /// it has lived, and stands in the pages as that lifespan.
    pub fn counts_sessions_down(&mut self, lifespans: &[Duration], scenario_took: Duration) {
        self.session_lifespans = lifespans.iter().map(Duration::as_secs).filter(|s| *s > 0).collect();
        self.session_lifespans.sort_unstable();
        self.session_lifespans.dedup();
        // Kratos counts whole seconds: one more for the second it truncates.
        self.longest_session_age = scenario_took.as_secs() + 1;
    }

    /// Another instance the scenario turned to, behind the same addresses in the
    /// documentation: as the instances of one deployment behind its load
    /// balancer are.
    pub fn also_for(&mut self, public: &str, admin: &str) {
        add_base_urls(&mut self.base_urls, public, admin);
    }

    /// A text that stands whole: a URL, a header value, a JSON string, a
    /// message. If it is a person's value it becomes its placeholder; if it is a
    /// URL, so do its query values that are; then ids, times and addresses.
    pub fn text(&mut self, text: &str) -> String {
        let text = redact::text(text);
        let text = self.whole_value(&text).unwrap_or(text);
        self.stable(&text)
    }

    /// A JSON body, with the volatile numbers and addresses replaced.
    pub fn json(&mut self, value: &Value) -> Value {
        let mut value = value.clone();
        self.describe_qr_codes(&mut value);
        let mut value = redact::json(&value);
        sort_hidden_traits(&mut value);
        self.walk(&mut value, None);
        sort_keys(&mut value);
        sort_by_placeholder(&mut value, None);
        value
    }

    /// A TOTP QR code shown as what it encodes, the otpauth URL, with the secret
    /// redacted and the account name as a placeholder: a page then says which
    /// issuer and account name an authenticator app shows, and a change of
    /// either (an account-name trait moved) is a change of the page.
    fn describe_qr_codes(&self, value: &mut Value) {
        match value {
            Value::Object(map) => {
                let is_qr = map.get("attributes").and_then(|a| a.get("id")).and_then(Value::as_str) == Some("totp_qr");
                if is_qr
                    && let Some(Value::String(src)) = map.get_mut("attributes").and_then(|a| a.get_mut("src"))
                        && let Ok(url) = crate::totp::decode_qr_data_uri(src) {
                            *src = format!("<a QR code of {}>", self.otpauth_url(&url));
                        }
                map.values_mut().for_each(|v| self.describe_qr_codes(v));
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.describe_qr_codes(v)),
            _ => {}
        }
    }

    /// `otpauth://totp/<issuer>:<account>?...&secret=[redacted]`, the account
    /// name replaced where it is a person's value.
    fn otpauth_url(&self, url: &str) -> String {
        let Some(rest) = url.strip_prefix("otpauth://totp/") else { return redact::REDACTED.to_string() };
        let (label, query) = rest.split_once('?').unwrap_or((rest, ""));
        let query: Vec<String> = query
            .split('&')
            .map(|pair| if pair.starts_with("secret=") { format!("secret={}", redact::REDACTED) } else { pair.to_string() })
            .collect();
        let query = query.join("&");
        let decoded = form_urlencoded::parse(format!("x={}", label.replace('+', "%2B")).as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default();
        let (issuer, account) = decoded.split_once(':').unwrap_or(("", decoded.as_str()));
        let account = self.whole_value(account).unwrap_or_else(|| account.to_string());
        format!("otpauth://totp/{issuer}:{account}?{query}")
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
            if name == "user-agent" || name == crate::client::http::SCENARIO_HEADER {
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
                out.push_str(&format!("\n{}\n", self.form(&encoded)));
            }
            Body::Json(value) => {
                let body = serde_json::to_string_pretty(&self.json(value)).unwrap_or_default();
                out.push_str(&format!("\n{body}\n"));
            }
            Body::Raw { content_type, bytes } => {
                let raw = String::from_utf8_lossy(bytes);
                let body = if content_type.starts_with("application/x-www-form-urlencoded") { self.form(&raw) } else { self.page(&raw) };
                out.push_str(&format!("\n{body}\n"));
            }
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
                Err(_) => self.page(&exchange.body_text()).trim_end().to_string(),
            };
            out.push_str(&format!("\n{body}\n"));
        }
        out
    }

    /// A URL-encoded form body: each field is a whole value.
    fn form(&mut self, encoded: &str) -> String {
        let encoded = redact::form(encoded);
        let encoded = self.urlencoded(&encoded).unwrap_or(encoded);
        self.stable(&encoded)
    }

    /// A body that is neither JSON nor a form (an HTML page, a message): a
    /// whole value only if all of it is one; otherwise only its `href`
    /// attributes are.
    fn page(&mut self, body: &str) -> String {
        let body = redact::text(body);
        let body = match self.whole_value(&body) {
            Some(replaced) => replaced,
            None => HREF
                .replace_all(&body, |c: &Captures| match self.whole_value(&html_unescape(&c[1])) {
                    Some(url) => format!("href=\"{}\"", html_escape(&url)),
                    None => c[0].to_string(),
                })
                .into_owned(),
        };
        self.stable(&body)
    }

    /// What stands for `value` if all of it is a person's value (or an
    /// identifier made from one), or a URL with such a value in its query;
    /// `None` if it is neither.
    fn whole_value(&self, value: &str) -> Option<String> {
        if let Some(placeholder) = self.person_values.get(value) {
            return Some(placeholder.clone());
        }
        self.made_from_identifier(value).or_else(|| self.url(value))
    }

    /// An identifier made by putting a word before a person's
    /// (`unknown.<identifier>`, which the login scenarios try): not the
    /// person's, but it would bring their random identifier into the pages. It
    /// is one only if all of it is one word (no space, no second `@`) that ends
    /// with a separator and the person's whole identifier.
    fn made_from_identifier(&self, value: &str) -> Option<String> {
        if value.contains(char::is_whitespace) {
            return None;
        }
        self.identifier_values
            .iter()
            .filter_map(|(actual, placeholder)| {
                let prefix = value.strip_suffix(actual.as_str())?;
                (prefix.ends_with(['.', '+', '-', '_']) && !prefix.contains('@')).then(|| (actual.len(), format!("{prefix}{placeholder}")))
            })
            // The longest: one identifier may end another.
            .max_by_key(|(len, _)| *len)
            .map(|(_, replaced)| replaced)
    }

    /// An http(s) URL with each query value that is a whole value replaced,
    /// every other byte as it was; `None` if none is.
    fn url(&self, url: &str) -> Option<String> {
        if !(url.starts_with("http://") || url.starts_with("https://")) || url.contains(char::is_whitespace) || Url::parse(url).is_err() {
            return None;
        }
        let (before_fragment, fragment) = url.split_at(url.find('#').unwrap_or(url.len()));
        let (address, query) = before_fragment.split_once('?')?;
        let query = self.urlencoded(query)?;
        Some(format!("{address}?{query}{fragment}"))
    }

    /// `a=1&b=2`, a query or a form body, with each value that is a whole
    /// value (decoded, then encoded again) replaced, every other byte as it
    /// was; `None` if none is.
    fn urlencoded(&self, encoded: &str) -> Option<String> {
        let mut replaced_any = false;
        let pairs: Vec<String> = encoded
            .split('&')
            .map(|pair| {
                let Some((name, _)) = pair.split_once('=') else { return pair.to_string() };
                let (_, value) = form_urlencoded::parse(pair.as_bytes()).next().unwrap_or_default();
                match self.whole_value(&value) {
                    Some(replaced) => {
                        replaced_any = true;
                        format!("{name}={}", urlencode(&replaced))
                    }
                    None => pair.to_string(),
                }
            })
            .collect();
        replaced_any.then(|| pairs.join("&"))
    }

    /// Ids, times and addresses: what changes from run to run in any text.
    fn stable(&mut self, text: &str) -> String {
        let mut out = self.replace_base_urls(text);
        out = CSRF_COOKIE.replace_all(&out, self.docs_csrf_cookie.as_str()).into_owned();
        out = QR_PNG.replace_all(&out, "data:image/png;base64,<the QR code as a PNG>").into_owned();
        out = RFC3339.replace_all(&out, "<time>").into_owned();
        out = GO_TIME.replace_all(&out, "<time>").into_owned();
        out = HTTP_DATE
            .replace_all(&out, |c: &Captures| if c[0].contains("1970") { c[0].to_string() } else { "<date>".to_string() })
            .into_owned();
        out = MINUTES_AGO.replace_all(&out, "expired <n> minutes ago").into_owned();
        let (lifespans, longest_age) = (&self.session_lifespans, self.longest_session_age);
        out = MAX_AGE
            .replace_all(&out, |c: &Captures| {
                let Ok(max_age) = c[1].parse::<u64>() else { return c[0].to_string() };
                match lifespans.iter().find(|lifespan| max_age <= **lifespan && **lifespan - max_age <= longest_age) {
                    Some(lifespan) => format!("Max-Age=<counted down from {lifespan}>"),
                    None => c[0].to_string(),
                }
            })
            .into_owned();
        let ids = &mut self.ids;
        UUID.replace_all(&out, |c: &Captures| {
            let next = ids.len() + 1;
            format!("<id-{}>", ids.entry(c[0].to_string()).or_insert(next))
        })
        .into_owned()
    }

    /// `text` with each of the scenario's base URLs replaced where it is the
    /// start of a URL, and nowhere else: `http://127.0.0.1:4123` is not the
    /// start of `http://127.0.0.1:41234/`.
    fn replace_base_urls(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = self.base_urls.iter().filter_map(|(actual, _)| rest.find(actual.as_str())).min() {
            out.push_str(&rest[..at]);
            rest = &rest[at..];
            let whole = self.base_urls.iter().find(|(actual, _)| rest.starts_with(actual.as_str()) && ends_base_url(&rest[actual.len()..]));
            match whole {
                Some((actual, docs)) => {
                    out.push_str(docs);
                    rest = &rest[actual.len()..];
                }
                None => {
                    let c = rest.chars().next().expect("a base URL starts here");
                    out.push(c);
                    rest = &rest[c.len_utf8()..];
                }
            }
        }
        out.push_str(rest);
        out
    }
}

/// Adds an instance's base URLs, as they are and URL-encoded, with the
/// documentation's in their place.
fn add_base_urls(base_urls: &mut Vec<(String, String)>, public: &str, admin: &str) {
    for (actual, docs) in [(public, DOCS_PUBLIC), (admin, DOCS_ADMIN)] {
        let (actual, docs) = (actual.trim_end_matches('/'), docs.trim_end_matches('/'));
        if actual.is_empty() {
            continue;
        }
        base_urls.push((actual.to_string(), docs.to_string()));
        base_urls.push((urlencode(actual), urlencode(docs)));
    }
    // A base URL that is the start of another (`https://host/` and
    // `https://host/admin`) must not take the other's place.
    base_urls.sort_by_key(|(actual, _)| std::cmp::Reverse(actual.len()));
}

/// Whether what follows a base URL leaves it whole: its path, query or fragment
/// (also URL-encoded, as inside `return_to=`), the end of the text, or a
/// character that cannot go on a host name or port (a quote, `&`, a space).
fn ends_base_url(after: &str) -> bool {
    match after.as_bytes().first() {
        None => true,
        Some(b'%') => after.get(..3).is_some_and(|escape| ["%2F", "%3F", "%23"].iter().any(|end| escape.eq_ignore_ascii_case(end))),
        Some(&c) => !(c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b':' | b'@')),
    }
}

/// Lists Kratos orders by a person's value (a credential's identifiers, an
/// identity's addresses) put in the order of the placeholders: the real values
/// are random, and so was their order.
fn sort_by_placeholder(value: &mut Value, key: Option<&str>) {
    match value {
        Value::Object(map) => map.iter_mut().for_each(|(k, v)| sort_by_placeholder(v, Some(k))),
        Value::Array(items) => {
            items.iter_mut().for_each(|v| sort_by_placeholder(v, None));
            match key {
                Some("identifiers") => items.sort_by(|a, b| a.as_str().cmp(&b.as_str())),
                Some("verifiable_addresses" | "recovery_addresses") => {
                    items.sort_by(|a, b| a["value"].as_str().cmp(&b["value"].as_str()));
                }
                _ => {}
            }
        }
        _ => {}
    }
}

/// Object keys sorted: Kratos writes some objects (traits decoded from a form)
/// from a Go map, in no fixed order, and the order of keys means nothing.
fn sort_keys(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.sort_keys();
            map.values_mut().for_each(sort_keys);
        }
        Value::Array(items) => items.iter_mut().for_each(sort_keys),
        _ => {}
    }
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A person's trait values, each with what stands for it: the first address
/// (`x@y`) becomes `person-N@example.org`, the shape a reader expects of an
/// identifier; any other address `person-N-<trait path>@example.org`; any other
/// value `person-N-<trait path>` (`person-1-name.first`). A value that would get
/// a placeholder another one already has (the items of an array) gets `-2`, `-3`.
fn placeholders_of(n: usize, person: &Person) -> Vec<(String, String)> {
    // Identifiers first, so that the address a person signs in with is
    // `person-N@example.org` whatever the traits' order; an identifier that is
    // not found as a trait (one inside an array) stands for itself.
    let identifiers = person.identifiers.iter().map(|identifier| {
        let value = person.trait_str(&identifier.trait_path).unwrap_or(&identifier.value);
        (identifier.trait_path.clone(), value.to_string())
    });
    let mut assigned: Vec<(String, String)> = Vec::new();
    for (path, value) in identifiers.chain(person.trait_strings()) {
        // An empty value stands whole in every empty form field; a value that
        // is another lower-cased (an identifier as Kratos keeps it) is found by
        // the lower-cased comparison.
        if value.trim().is_empty() || assigned.iter().any(|(taken, _)| *taken == value || taken.to_lowercase() == value) {
            continue;
        }
        let placeholder = if !is_email(&value) {
            format!("person-{n}-{path}")
        } else if assigned.iter().any(|(_, placeholder)| is_email(placeholder)) {
            format!("person-{n}-{path}@example.org")
        } else {
            format!("person-{n}@example.org")
        };
        let placeholder = (1..)
            .map(|k| numbered(&placeholder, k))
            .find(|candidate| !assigned.iter().any(|(_, taken)| taken == candidate))
            .expect("some number is free");
        assigned.push((value, placeholder));
    }
    assigned
}

/// The `k`-th placeholder of that shape: `person-1-emails` for the first, `person-1-emails-2` for the second.
fn numbered(placeholder: &str, k: usize) -> String {
    match (k, placeholder.split_once('@')) {
        (1, _) => placeholder.to_string(),
        (_, Some((local, domain))) => format!("{local}-{k}@{domain}"),
        (_, None) => format!("{placeholder}-{k}"),
    }
}

/// Shaped like an address: one `@` with something on either side, no whitespace.
fn is_email(value: &str) -> bool {
    value.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty() && !domain.contains('@'))
        && !value.contains(char::is_whitespace)
}

/// Go's `html.EscapeString`, which its redirect page puts the Location through.
fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('\'', "&#39;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&#34;")
}

fn html_unescape(s: &str) -> String {
    s.replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&#34;", "\"").replace("&quot;", "\"").replace("&amp;", "&")
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
    use std::time::{Duration, SystemTime};

    use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
    use reqwest::{Method, StatusCode};
    use serde_json::json;

    use super::*;
    use crate::identity::Identifier;

    const PUBLIC: &str = "http://127.0.0.1:41234/";
    const ADMIN: &str = "http://127.0.0.1:41235/";

    /// A person as `Person::fake` makes one, from given names and address; the
    /// identifier lower-cased, as Kratos keeps it.
    fn person(first: &str, last: &str, email: &str) -> Person {
        Person {
            traits: json!({"email": email, "name": {"first": first, "last": last}}),
            password: "Not-registered-with-redact-1".into(),
            identifiers: vec![Identifier { trait_path: "email".into(), value: email.to_lowercase() }],
        }
    }

    fn exchange(method: Method, url: &str, request_headers: &[(&str, &str)], request_body: Body, status: u16, headers: &[(&str, &str)], body: &str) -> Exchange {
        let mut header_map = HeaderMap::new();
        for (name, value) in headers {
            header_map.append(HeaderName::from_bytes(name.as_bytes()).expect("a header name"), HeaderValue::from_str(value).expect("an ASCII header value"));
        }
        Exchange {
            method,
            url: Url::parse(url).expect("a URL"),
            request_headers: request_headers.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect(),
            request_body,
            status: StatusCode::from_u16(status).expect("a status"),
            headers: header_map,
            body: body.as_bytes().to_vec(),
            at: SystemTime::UNIX_EPOCH,
            elapsed: Duration::ZERO,
        }
    }

    fn form(fields: &[(&str, &str)]) -> Body {
        Body::Form(fields.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect())
    }

    #[test]
    fn placeholders_keep_an_address_shaped_and_name_any_other_value_by_its_trait() {
        let person = Person {
            traits: json!({
                "backup_email": "Pat.Backup@example.org",
                "email": "Pat.O'Conner@example.org",
                "emails": ["one@example.org", "two@example.org"],
                "name": {"first": "Pat", "last": "O'Conner"},
                "phone": "+14155550123",
                "tags": ["Path", "Max"],
                "tos_accepted": true,
                "nickname": ""
            }),
            password: "Not-registered-with-redact-1".into(),
            identifiers: vec![Identifier { trait_path: "email".into(), value: "pat.o'conner@example.org".into() }],
        };
        let placeholders: HashMap<String, String> = placeholders_of(2, &person).into_iter().collect();
        let expected: HashMap<String, String> = [
            ("Pat.O'Conner@example.org", "person-2@example.org"),
            ("Pat.Backup@example.org", "person-2-backup_email@example.org"),
            ("one@example.org", "person-2-emails@example.org"),
            ("two@example.org", "person-2-emails-2@example.org"),
            ("Pat", "person-2-name.first"),
            ("O'Conner", "person-2-name.last"),
            ("+14155550123", "person-2-phone"),
            ("Path", "person-2-tags"),
            ("Max", "person-2-tags-2"),
        ]
        .into_iter()
        .map(|(value, placeholder)| (value.to_string(), placeholder.to_string()))
        .collect();
        assert_eq!(placeholders, expected);
    }

    #[test]
    fn form_fields_and_query_values_are_compared_decoded() {
        let people = [person("D'Angelo", "O'Conner", "d'angelo.o'conner.x1@example.org")];
        let mut n = Normalizer::new(PUBLIC, ADMIN, &people);
        let sent = exchange(
            Method::POST,
            "http://127.0.0.1:41234/self-service/registration?flow=0b6b8f0e-6f7c-4a53-9a36-0d3f1f4f1e0a&last=O%27Conner",
            &[],
            form(&[("traits.name.first", "D'Angelo"), ("traits.name.last", "O'Conner"), ("note", "O'Conner's form"), ("traits.email", "d'angelo.o'conner.x1@example.org")]),
            200,
            &[],
            "",
        );
        let out = n.exchange(&sent);
        assert!(out.starts_with("POST http://127.0.0.1:4433/self-service/registration?flow=<id-1>&last=person-1-name.last\n"), "{out}");
        assert!(
            out.contains("\ntraits.name.first=person-1-name.first&traits.name.last=person-1-name.last&note=O%27Conner%27s+form&traits.email=person-1%40example.org\n"),
            "{out}"
        );

        // A form sent as it is, not as the suite encodes one.
        let raw = Body::Raw { content_type: "application/x-www-form-urlencoded".into(), bytes: b"traits.name.last=O%27Conner&x=O%27Conner%21".to_vec() };
        let sent = exchange(Method::POST, "http://127.0.0.1:41234/self-service/registration", &[], raw, 200, &[], "");
        assert!(n.exchange(&sent).contains("\ntraits.name.last=person-1-name.last&x=O%27Conner%21\n"));
    }

    #[test]
    fn lower_cased_identifiers_are_replaced() {
        let people = [person("Jan", "Una", "Jan.Una.X4@Example.ORG")];
        let mut n = Normalizer::new(PUBLIC, ADMIN, &people);
        let body = json!({
            "identifier": "jan.una.x4@example.org",
            "identity": {"traits": {"email": "Jan.Una.X4@Example.ORG", "name": {"first": "Jan", "last": "Una"}}},
            "credentials": {"password": {"identifiers": ["jan.una.x4@example.org"]}},
            "month": "January"
        });
        assert_eq!(
            n.json(&body),
            json!({
                "identifier": "person-1@example.org",
                "identity": {"traits": {"email": "person-1@example.org", "name": {"first": "person-1-name.first", "last": "person-1-name.last"}}},
                "credentials": {"password": {"identifiers": ["person-1@example.org"]}},
                "month": "January"
            })
        );
        assert_eq!(n.text("http://127.0.0.1:41234/x?identifier=jan.una.x4%40example.org"), "http://127.0.0.1:4433/x?identifier=person-1%40example.org");
    }

    #[test]
    fn an_identifier_made_from_a_persons_is_replaced_only_in_its_tail() {
        let mut username = person("Pat", "O'Conner", "Pat.O'Conner.x1@example.org");
        username.traits["login"] = json!("pat_x1");
        username.identifiers.push(Identifier { trait_path: "login".into(), value: "pat_x1".into() });
        let mut n = Normalizer::new(PUBLIC, ADMIN, &[username]);
        assert_eq!(n.text("unknown.pat.o'conner.x1@example.org"), "unknown.person-1@example.org");
        assert_eq!(n.text("unknown.Pat.O'Conner.x1@example.org"), "unknown.person-1@example.org");
        assert_eq!(n.text("unknown.pat_x1"), "unknown.person-1-login");
        // Not made from the person's whole identifier, not one word, or not from an identifier.
        assert_eq!(n.text("xpat.o'conner.x1@example.org"), "xpat.o'conner.x1@example.org");
        assert_eq!(n.text("a@unknown.pat.o'conner.x1@example.org"), "a@unknown.pat.o'conner.x1@example.org");
        assert_eq!(n.text("mail unknown.pat.o'conner.x1@example.org"), "mail unknown.pat.o'conner.x1@example.org");
        assert_eq!(n.text("Mr.Pat"), "Mr.Pat");
    }

    #[test]
    fn a_redirect_page_links_its_location() {
        let people = [person("Pat", "O'Conner", "pat.o'conner.x1@example.org")];
        let mut n = Normalizer::new(PUBLIC, ADMIN, &people);
        let page = "<a href=\"http://127.0.0.1:4455/welcome?name=Pat&amp;last=O%27Conner&amp;Path=Pat\">See Other</a>.\n";
        let redirect = exchange(Method::GET, "http://127.0.0.1:41234/", &[], Body::Empty, 303, &[], page);
        assert!(
            n.exchange(&redirect)
                .ends_with("\n<a href=\"http://127.0.0.1:4455/welcome?name=person-1-name.first&amp;last=person-1-name.last&amp;Path=person-1-name.first\">See Other</a>.\n"),
            "{}",
            n.exchange(&redirect)
        );
    }

    /// What a scenario records about `person`: their values in each place
    /// Kratos and the suite put them, beside words that contain short names.
    fn exchanges_about(person: &Person) -> Vec<Exchange> {
        let email = person.trait_str("email").expect("an email");
        let first = person.trait_str("name.first").expect("a first name");
        let last = person.trait_str("name.last").expect("a last name");
        let identifier = person.identifier();
        let flow = "0b6b8f0e-6f7c-4a53-9a36-0d3f1f4f1e0a";
        let identity_id = "1c6b8f0e-6f7c-4a53-9a36-0d3f1f4f1e0a";

        let mut return_to = Url::parse("http://127.0.0.1:4455/welcome").expect("a URL");
        return_to.query_pairs_mut().append_pair("name", first).append_pair("hint", email);
        let mut start = Url::parse(&format!("{PUBLIC}self-service/registration/browser")).expect("a URL");
        start.query_pairs_mut().append_pair("return_to", return_to.as_str()).append_pair("login_hint", identifier);
        let mut ui = Url::parse("http://127.0.0.1:4455/registration").expect("a URL");
        ui.query_pairs_mut().append_pair("flow", flow).append_pair("return_to", return_to.as_str());
        let cookies = [
            ("set-cookie", "csrf_token_806060ca5bf70dff3caa0e5c860002aade9d470a5a4dce73bcfa7ba10778f482=c2VjcmV0; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax"),
            ("set-cookie", "ory_kratos_session=c2Vzc2lvbg; Path=/; Expires=Sun, 29 Nov 2026 09:46:36 GMT; Max-Age=86399; HttpOnly; SameSite=Lax"),
        ];
        let json_type = ("content-type", "application/json; charset=utf-8");

        let identity = json!({
            "id": identity_id,
            "schema_id": "default",
            "state": "active",
            "traits": person.traits(),
            "credentials": {"password": {"type": "password", "identifiers": [identifier], "version": 0}},
            "created_at": "2026-11-28T09:46:36.123456Z"
        });
        let flow_json = json!({
            "id": flow,
            "type": "browser",
            "request_url": start.as_str(),
            "return_to": return_to.as_str(),
            "ui": {
                "action": format!("{PUBLIC}self-service/registration?flow={flow}"),
                "method": "POST",
                "nodes": [
                    {"type": "input", "group": "default", "attributes": {"name": "traits.name.last", "type": "hidden", "value": last}},
                    {"type": "input", "group": "default", "attributes": {"name": "traits.email", "type": "email", "value": email},
                     "meta": {"label": {"id": 1070002, "text": "E-Mail", "type": "info"}}},
                    {"type": "input", "group": "default", "attributes": {"name": "traits.name.first", "type": "hidden", "value": first}},
                    {"type": "input", "group": "password", "attributes": {"name": "method", "type": "submit", "value": "password"},
                     "meta": {"label": {"id": 1040001, "text": "Sign up", "type": "info"}}}
                ],
                "messages": [{"id": 4000006, "text": "The provided credentials are invalid, check for spelling mistakes in your password or username, email address, or phone number.", "type": "error"}]
            }
        });
        let session = json!({
            "session": {"id": flow, "active": true, "identity": identity.clone(), "devices": [{"ip_address": "10.0.0.7"}]},
            "redirect_browser_to": return_to.as_str(),
            "continue_with": [{"action": "redirect_browser_to", "redirect_browser_to": ui.as_str()}]
        });
        let words = "Unable to Generate the Flow in January: Path=/, SameSite and Max-Age are set. \
                     Pat, Sam, Max, Gene, Jan, Una and Flo O'Conner and D'Angelo sent pat.o'conner.x1@example.org.";

        vec![
            exchange(
                Method::POST,
                &format!("{ADMIN}admin/identities"),
                &[("accept", "application/json")],
                Body::Json(json!({"schema_id": "default", "traits": person.traits(), "credentials": {"password": {"config": {"password": person.password}}}})),
                201,
                &[json_type, ("location", &format!("{ADMIN}admin/identities/{identity_id}"))],
                &identity.to_string(),
            ),
            exchange(
                Method::GET,
                start.as_str(),
                &[("accept", "text/html"), ("x-login-hint", identifier)],
                Body::Empty,
                303,
                &[("location", ui.as_str()), cookies[0], cookies[1]],
                &format!("<a href=\"{}\">See Other</a>.\n", html_escape(ui.as_str())),
            ),
            exchange(
                Method::POST,
                &format!("{PUBLIC}self-service/registration?flow={flow}"),
                &[("cookie", "ory_kratos_session=c2Vzc2lvbg; csrf_token_806060ca5bf70dff3caa0e5c860002aade9d470a5a4dce73bcfa7ba10778f482=c2VjcmV0")],
                form(&[
                    ("csrf_token", "c2VjcmV0"),
                    ("method", "password"),
                    ("password", &person.password),
                    ("traits.email", email),
                    ("traits.name.first", first),
                    ("traits.name.last", last),
                    ("return_to", return_to.as_str()),
                ]),
                200,
                &[json_type, cookies[0]],
                &flow_json.to_string(),
            ),
            exchange(
                Method::POST,
                &format!("{PUBLIC}self-service/login?flow={flow}"),
                &[("accept", "application/json")],
                Body::Json(json!({"method": "password", "identifier": identifier, "password": person.password})),
                200,
                &[json_type, cookies[1]],
                &session.to_string(),
            ),
            exchange(Method::GET, &format!("{PUBLIC}self-service/errors?id={flow}"), &[], Body::Empty, 500, &[("content-type", "text/plain")], words),
        ]
    }

    /// The pages' text for a scenario of `people`: each exchange as set-up
    /// shows it and in full.
    fn render(people: &[Person]) -> String {
        let mut normalizer = Normalizer::new(PUBLIC, ADMIN, people);
        normalizer.counts_sessions_down(&[Duration::from_secs(86_400)], Duration::from_secs(3));
        let mut out = String::new();
        for exchange in people.iter().flat_map(exchanges_about) {
            out.push_str(&format!("- `{}` → {}\n", normalizer.request_line(&exchange), exchange.status));
            out.push_str(&normalizer.exchange(&exchange));
        }
        out
    }

    /// As many people as `like`, with names and addresses no text contains.
    fn unaffected(like: usize) -> Vec<Person> {
        (1..=like).map(|i| person(&format!("Zzq{i}"), &format!("Qzz{i}"), &format!("Zzq{i}.Qzz{i}.x{i}@example.org"))).collect()
    }

    /// The pages for `people` are those for people no text contains: only the
    /// values changed, and each to the same placeholder.
    fn assert_only_values_replaced(people: &[Person]) {
        let expected = render(&unaffected(people.len()));
        let actual = render(people);
        if actual != expected {
            let (line, (a, e)) = actual.lines().zip(expected.lines()).enumerate().find(|(_, (a, e))| a != e).unwrap_or((0, ("(length)", "(length)")));
            panic!("for {people:?}, line {} differs:\n  got:      {a}\n  expected: {e}", line + 1);
        }
    }

    #[test]
    fn the_unaffected_rendering_has_every_value_replaced_and_every_word_whole() {
        let pages = render(&unaffected(2));
        assert!(!pages.to_lowercase().contains("zzq") && !pages.to_lowercase().contains("qzz"), "{pages}");
        for expected in [
            "\"first\": \"person-2-name.first\"",
            "\"value\": \"person-1-name.last\"",
            "\"identifiers\": [\n        \"person-1@example.org\"",
            "\"identifier\": \"person-2@example.org\"",
            "traits.email=person-1%40example.org&traits.name.first=person-1-name.first&traits.name.last=person-1-name.last&return_to=http%3A%2F%2F127.0.0.1%3A4455%2Fwelcome%3Fname%3Dperson-1-name.first%26hint%3Dperson-1%2540example.org",
            "GET http://127.0.0.1:4433/self-service/registration/browser?return_to=http%3A%2F%2F127.0.0.1%3A4455%2Fwelcome%3Fname%3Dperson-2-name.first%26hint%3Dperson-2%2540example.org&login_hint=person-2%40example.org",
            "x-login-hint: person-1@example.org",
            "<a href=\"http://127.0.0.1:4455/registration?flow=<id-2>&amp;return_to=http%3A%2F%2F127.0.0.1%3A4455%2Fwelcome%3Fname%3Dperson-1-name.first",
            "\"redirect_browser_to\": \"http://127.0.0.1:4455/welcome?name=person-2-name.first&hint=person-2%40example.org\"",
            "location: http://127.0.0.1:4434/admin/identities/<id-1>",
            "Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax",
            "Path=/; Expires=<date>; Max-Age=<counted down from 86400>; HttpOnly; SameSite=Lax",
            "\"ip_address\": \"<the client's address>\"",
            "Unable to Generate the Flow in January: Path=/, SameSite and Max-Age are set. \
             Pat, Sam, Max, Gene, Jan, Una and Flo O'Conner and D'Angelo sent pat.o'conner.x1@example.org.",
        ] {
            assert!(pages.contains(expected), "no {expected:?} in\n{pages}");
        }
    }

    #[test]
    fn names_inside_words_and_with_apostrophes_change_only_the_values() {
        assert_only_values_replaced(&[
            person("Pat", "O'Conner", "pat.o'conner.x1@example.org"),
            person("Sam", "D'Angelo", "Sam.D'Angelo.x2@example.org"),
            person("Max", "Gene", "max.gene.x3@example.org"),
            person("Jan", "Una", "Jan.Una.X4@Example.ORG"),
            person("Flo", "Lax", "flo.lax.x5@example.org"),
        ]);
    }

    /// Names as `Person::fake` draws them, from every locale of `fake`.
    #[test]
    fn names_from_the_fake_lists_change_only_the_values() {
        use fake::Fake;
        use fake::faker::name::raw::{FirstName, LastName};
        use fake::locales::{AR_SA, CY_GB, DE_DE, EN, FA_IR, FR_FR, IT_IT, JA_JP, NL_NL, PT_BR, PT_PT, TR_TR, ZH_CN, ZH_TW};
        use fake::rand::SeedableRng;
        use fake::rand::rngs::ChaCha8Rng;

        type Draw = fn(&mut ChaCha8Rng) -> (String, String);
        macro_rules! draw {
            ($locale:expr) => {
                (|rng| (FirstName($locale).fake_with_rng(rng), LastName($locale).fake_with_rng(rng))) as Draw
            };
        }
        let locales = [
            draw!(EN), draw!(EN), draw!(EN), draw!(FR_FR), draw!(DE_DE), draw!(IT_IT), draw!(NL_NL), draw!(PT_BR),
            draw!(PT_PT), draw!(CY_GB), draw!(TR_TR), draw!(JA_JP), draw!(ZH_CN), draw!(ZH_TW), draw!(AR_SA), draw!(FA_IR),
        ];
        // Seeded, so that a failure names the same people on the next run.
        let mut rng = ChaCha8Rng::seed_from_u64(17);
        let mut drawn = 0;
        for batch in 0..100 {
            let mut people: Vec<Person> = Vec::new();
            while people.len() < 3 {
                let (first, last) = locales[drawn % locales.len()](&mut rng);
                drawn += 1;
                // As Person::fake makes it, keeping apostrophes and letters of any script.
                let local: String = format!("{first}.{last}").chars().filter(|c| c.is_alphanumeric() || matches!(c, '.' | '\'')).collect();
                let candidate = person(&first, &last, &format!("{local}.x{batch}n{}@example.org", people.len()));
                // Two people (or two traits) with one value are one value, and
                // one placeholder, which the unaffected people would not share.
                let values: Vec<String> = candidate.trait_strings().into_iter().map(|(_, v)| v.to_lowercase()).collect();
                let taken: Vec<String> = people.iter().flat_map(|p| p.trait_strings()).map(|(_, v)| v.to_lowercase()).collect();
                let distinct = values.iter().enumerate().all(|(i, v)| !values[..i].contains(v) && !taken.contains(v));
                if distinct && !first.trim().is_empty() && !last.trim().is_empty() {
                    people.push(candidate);
                }
            }
            assert_only_values_replaced(&people);
        }
        assert!(drawn >= 300, "{drawn} names drawn");
    }

    #[test]
    fn ids_times_and_addresses_become_placeholders() {
        let mut n = Normalizer::new("http://127.0.0.1:41234/", "http://127.0.0.1:41235/", &[]);
        n.counts_sessions_down(&[Duration::from_secs(86_400)], Duration::from_secs(2));
        let text = n.text(
            "http://127.0.0.1:41234/self-service/login?flow=0b6b8f0e-6f7c-4a53-9a36-0d3f1f4f1e0a at 2026-11-28T09:46:36.123Z, \
             again 0b6b8f0e-6f7c-4a53-9a36-0d3f1f4f1e0a, then 1c6b8f0e-6f7c-4a53-9a36-0d3f1f4f1e0a; \
             Expires=Sun, 29 Nov 2026 09:46:36 GMT; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=86399",
        );
        assert_eq!(
            text,
            "http://127.0.0.1:4433/self-service/login?flow=<id-1> at <time>, again <id-1>, then <id-2>; \
             Expires=<date>; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=<counted down from 86400>"
        );
    }

    /// Under load a scenario's session may be well over half a minute old when
    /// Kratos counts its cookie down (86369 was seen on PostgreSQL): what the
    /// pages show is the lifespan of the instance, whatever the session's age
    /// within the scenario's time, and nothing outside it.
    #[test]
    fn a_session_max_age_stands_as_its_instance_lifespan_within_the_scenario_time() {
        let mut n = Normalizer::new("http://a:1/", "http://a:2/", &[]);
        n.counts_sessions_down(&[Duration::from_secs(86_400), Duration::from_secs(3_600)], Duration::from_millis(41_900));
        assert_eq!(
            n.text("Max-Age=86369; Max-Age=86400; Max-Age=3599; Max-Age=3558; Max-Age=31536000"),
            "Max-Age=<counted down from 86400>; Max-Age=<counted down from 86400>; Max-Age=<counted down from 3600>; \
             Max-Age=<counted down from 3600>; Max-Age=31536000"
        );
        // Older than the scenario, or longer than any lifespan: not a session's countdown.
        assert_eq!(n.text("Max-Age=86357; Max-Age=86401; Max-Age=3557"), "Max-Age=86357; Max-Age=86401; Max-Age=3557");

        let mut unknown = Normalizer::new("http://a:1/", "http://a:2/", &[]);
        assert_eq!(unknown.text("Max-Age=86399"), "Max-Age=86399", "no lifespan given, nothing guessed");
    }

    #[test]
    fn a_base_url_is_replaced_only_where_a_url_starts_with_it() {
        let mut n = Normalizer::new("http://127.0.0.1:4123/", "http://127.0.0.1:41234", &[]);
        assert_eq!(
            n.text(
                "http://127.0.0.1:41234/admin/identities http://127.0.0.1:4123/self-service?x=1 \
                 return_to=http%3A%2F%2F127.0.0.1%3A4123%2Fwelcome&a=http%3A%2F%2F127.0.0.1%3A4123 \
                 \"http://127.0.0.1:4123\" http://127.0.0.1:41230/ http://127.0.0.1:4123.example/ http://127.0.0.1:4123"
            ),
            "http://127.0.0.1:4434/admin/identities http://127.0.0.1:4433/self-service?x=1 \
             return_to=http%3A%2F%2F127.0.0.1%3A4433%2Fwelcome&a=http%3A%2F%2F127.0.0.1%3A4433 \
             \"http://127.0.0.1:4433\" http://127.0.0.1:41230/ http://127.0.0.1:4123.example/ http://127.0.0.1:4433"
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
