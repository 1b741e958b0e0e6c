//! Keeps secrets out of everything the suite prints or writes: passwords, TOTP
//! secrets and codes, recovery codes, session and logout tokens, CSRF tokens and
//! cookie values.
//!
//! Two layers: values under known-sensitive names (JSON keys, form fields,
//! headers) are replaced wherever they appear, and every secret the suite itself
//! generated or received is registered here and replaced in any text, whatever
//! shape it turns up in (a URL, an error message, a Kratos log line).

use std::sync::RwLock;

use serde_json::Value;

pub const REDACTED: &str = "[redacted]";

/// JSON keys and form fields whose values are secrets.
const SENSITIVE_FIELDS: &[&str] = &[
    "password",
    "totp_code",
    "lookup_secret",
    "csrf_token",
    "session_token",
    "logout_token",
    "secret",
    "totp_url",
    "session_token_exchange_code",
    "recovery_code",
];

/// Fields that are secrets where they hold text: a recovery flow's `code` (a
/// number there is an error's status code, `"code": 403`).
const SENSITIVE_TEXT_FIELDS: &[&str] = &["code"];

/// Headers whose values are secrets (cookies keep their names and attributes).
const SENSITIVE_HEADERS: &[&str] = &["x-session-token", "authorization", "cookie", "set-cookie"];

/// The registered secrets, and an automaton that finds all of them in one pass
/// over a text (a run registers thousands: every flow's CSRF token, every
/// cookie value), rebuilt when a secret is added.
struct Registry {
    secrets: Vec<String>,
    known: std::collections::BTreeSet<String>,
    finder: Option<aho_corasick::AhoCorasick>,
}

static SECRETS: RwLock<Registry> =
    RwLock::new(Registry { secrets: Vec::new(), known: std::collections::BTreeSet::new(), finder: None });

/// Registers a secret: from now on it is replaced in every text this module
/// redacts. Values too short to be told apart from ordinary text are ignored.
pub fn register(secret: impl Into<String>) {
    let secret = secret.into();
    if secret.len() < 6 {
        return;
    }
    // A short run of digits (a one-time code) turns up inside ids, times and
    // hashes too: such a value is redacted by the field that carries it only.
    if secret.len() < 10 && secret.bytes().all(|b| b.is_ascii_digit()) {
        return;
    }
    if SECRETS.read().expect("not poisoned").known.contains(&secret) {
        return;
    }
    let mut registry = SECRETS.write().expect("not poisoned");
    if registry.known.insert(secret.clone()) {
        registry.secrets.push(secret);
        registry.finder = None;
    }
}

/// Replaces every registered secret in `text` in one pass; where secrets
/// overlap, the longest wins, so a secret that contains another goes whole.
fn replace_secrets(text: &str) -> String {
    {
        let registry = SECRETS.read().expect("not poisoned");
        if registry.secrets.is_empty() {
            return text.to_string();
        }
        if let Some(finder) = &registry.finder {
            return finder.replace_all(text, &vec![REDACTED; registry.secrets.len()]);
        }
    }
    let mut registry = SECRETS.write().expect("not poisoned");
    let finder = aho_corasick::AhoCorasick::builder()
        .match_kind(aho_corasick::MatchKind::LeftmostLongest)
        .build(&registry.secrets)
        .expect("secrets make an automaton");
    let out = finder.replace_all(text, &vec![REDACTED; registry.secrets.len()]);
    registry.finder = Some(finder);
    out
}

/// The TOTP QR code: an image whose content is the whole otpauth URL, secret
/// included, so it is a secret as a whole.
static QR_IMAGE: std::sync::LazyLock<regex::Regex> =
    std::sync::LazyLock::new(|| regex::Regex::new(r"data:image/png;base64,[A-Za-z0-9+/=]+").expect("valid"));
pub const QR_PLACEHOLDER: &str = "data:image/png;base64,[redacted: the QR code of the TOTP secret]";

/// Replaces every registered secret in `text`, and any PNG data URI (the QR code
/// of a TOTP secret).
pub fn text(text: &str) -> String {
    let out = QR_IMAGE.replace_all(text, QR_PLACEHOLDER);
    replace_secrets(&out)
}

/// A header value with its secret parts replaced: for cookies the value, keeping
/// the name and the attributes, which the suite asserts.
pub fn header(name: &str, value: &str) -> String {
    let name = name.to_ascii_lowercase();
    if !SENSITIVE_HEADERS.contains(&name.as_str()) {
        return text(value);
    }
    match name.as_str() {
        "set-cookie" => {
            let mut parts = value.splitn(2, ';');
            let pair = parts.next().unwrap_or_default();
            let attributes = parts.next().map(|a| format!(";{a}")).unwrap_or_default();
            format!("{}{attributes}", cookie_pair(pair))
        }
        "cookie" => value.split("; ").map(cookie_pair).collect::<Vec<_>>().join("; "),
        _ => REDACTED.to_string(),
    }
}

fn cookie_pair(pair: &str) -> String {
    match pair.split_once('=') {
        Some((name, "")) => format!("{name}="),
        Some((name, _)) => format!("{name}={REDACTED}"),
        None => pair.to_string(),
    }
}

/// Registers every secret a JSON document carries, by the rules [`json`]
/// redacts with: values of sensitive fields and inputs (a flow's CSRF token),
/// the TOTP secret and recovery codes of node texts. Every response the suite
/// receives passes here, so a secret is known before any message can carry it.
/// (It only collects: searching text happens when something is printed.)
pub fn register_from_json(value: &Value) {
    match value {
        Value::Object(map) => {
            let sensitive_input = map.get("name").and_then(Value::as_str).is_some_and(|n| SENSITIVE_FIELDS.contains(&n));
            for (key, field) in map {
                let is_secret = SENSITIVE_FIELDS.contains(&key.as_str()) || (sensitive_input && key == "value");
                match field {
                    Value::String(s) if is_secret => register(s.clone()),
                    Value::Number(n) if is_secret => register(n.to_string()),
                    _ => register_from_json(field),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(register_from_json),
        _ => {}
    }
}

/// Every secret registered so far (for the suite's own redaction test, which
/// greps the reports for them; nothing else reads this).
pub fn registered() -> Vec<String> {
    SECRETS.read().expect("not poisoned").secrets.clone()
}

/// A JSON document with the values of sensitive fields replaced, and the TOTP
/// secret and recovery codes that Kratos shows as node texts.
pub fn json(value: &Value) -> Value {
    let mut value = value.clone();
    redact_json(&mut value);
    value
}

fn redact_json(value: &mut Value) {
    match value {
        Value::Object(map) => {
            // A UI node that carries an input's value: `{"name": "password", "value": ...}`.
            let sensitive_input = map
                .get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| SENSITIVE_FIELDS.contains(&n));
            // A text node whose context holds secrets (TOTP secret key, recovery codes).
            let secret_text = map.get("context").is_some_and(|c| c.get("secret").is_some() || c.get("secrets").is_some());
            for (key, field) in map.iter_mut() {
                let is_secret = SENSITIVE_FIELDS.contains(&key.as_str())
                    || (sensitive_input && key == "value")
                    || (secret_text && key == "text");
                let secret_text_field = SENSITIVE_TEXT_FIELDS.contains(&key.as_str());
                match field {
                    Value::String(s) if (is_secret || secret_text_field) && !s.is_empty() => *s = REDACTED.to_string(),
                    Value::Number(_) if is_secret => *field = Value::String(REDACTED.to_string()),
                    _ => redact_json(field),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_json),
        Value::String(s) => *s = text(s),
        _ => {}
    }
}

/// A form-encoded body with the values of sensitive fields replaced.
pub fn form(body: &str) -> String {
    body.split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) if (SENSITIVE_FIELDS.contains(&name) || SENSITIVE_TEXT_FIELDS.contains(&name)) && !value.is_empty() => {
                format!("{name}={REDACTED}")
            }
            _ => text(pair),
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cookies_keep_names_and_attributes() {
        assert_eq!(
            header("Set-Cookie", "csrf_token_ab=c2VjcmV0; Path=/; HttpOnly"),
            "csrf_token_ab=[redacted]; Path=/; HttpOnly"
        );
        assert_eq!(header("cookie", "a=1; b=2"), "a=[redacted]; b=[redacted]");
        assert_eq!(header("X-Session-Token", "ory_st_abc"), REDACTED);
        assert_eq!(header("Content-Type", "application/json"), "application/json");
    }

    #[test]
    fn json_fields_nodes_and_secret_texts_are_redacted() {
        let flow = json!({
            "password": "hunter2hunter2",
            "totp_code": 123456,
            "ui": {"nodes": [
                {"attributes": {"name": "csrf_token", "value": "abc"}},
                {"attributes": {"name": "identifier", "value": "a@b.example"}},
                {"attributes": {"id": "totp_secret_key", "text": {"id": 1050006, "text": "JBSWY3DP", "context": {"secret": "JBSWY3DP"}}}}
            ]}
        });
        let out = json(&flow).to_string();
        for secret in ["hunter2hunter2", "123456", "abc", "JBSWY3DP"] {
            assert!(!out.contains(secret), "{secret} leaked: {out}");
        }
        assert!(out.contains("a@b.example") && out.contains("1050006"));
    }

    #[test]
    fn secrets_in_a_flow_are_registered() {
        let flow = json!({"ui": {"nodes": [
            {"attributes": {"name": "csrf_token", "value": "Q1NSRnRva2VuLTQyLXZhbHVl"}},
            {"attributes": {"id": "lookup_secret_codes", "text": {"context": {"secrets": [{"context": {"secret": "abcd1234"}}]}}}}
        ]}, "session_token": "ory_st_registeredtoken"});
        register_from_json(&flow);
        let known = registered();
        for secret in ["Q1NSRnRva2VuLTQyLXZhbHVl", "abcd1234", "ory_st_registeredtoken"] {
            assert!(known.iter().any(|k| k == secret), "{secret} not registered");
        }
    }

    #[test]
    fn registered_secrets_are_replaced_anywhere() {
        register("S3CRETVALUEXYZ");
        assert_eq!(text("otpauth://totp/x?secret=S3CRETVALUEXYZ&digits=6"), "otpauth://totp/x?secret=[redacted]&digits=6");
        assert_eq!(form("method=totp&totp_code=123456&x=S3CRETVALUEXYZ"), "method=totp&totp_code=[redacted]&x=[redacted]");
    }
}
