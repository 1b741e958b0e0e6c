//! The assertions, one place per kind. Each failure says what was expected, what
//! came instead, and prints the HTTP exchange that broke it (redacted).

use std::fmt::{Debug, Display};

use anyhow::Result;
use serde_json::Value;

use crate::client::{Exchange, Flow, KratosError, Message};

/// A failure about `exchange`, printed under `message`.
pub fn failure(exchange: &Exchange, message: impl Display) -> anyhow::Error {
    exchange.failure(message)
}

pub fn status(exchange: &Exchange, expected: u16) -> Result<()> {
    if exchange.status.as_u16() != expected {
        return Err(failure(exchange, format!("expected HTTP {expected}, got {}", exchange.status)));
    }
    Ok(())
}

pub fn equals<T: PartialEq + Debug>(exchange: &Exchange, what: &str, expected: T, actual: T) -> Result<()> {
    if expected != actual {
        return Err(failure(exchange, format!("{what}: expected {expected:?}, got {actual:?}")));
    }
    Ok(())
}

pub fn location(exchange: &Exchange) -> Result<&str> {
    exchange.location().ok_or_else(|| failure(exchange, "expected a Location header, there is none"))
}

/// `Location` without its `flow` parameter equals `expected` (the flow id is
/// checked separately, since it is new each time).
pub fn location_is_ui_with_flow(exchange: &Exchange, ui_url: &str) -> Result<String> {
    let location = location(exchange)?;
    let parsed = url::Url::parse(location).map_err(|e| failure(exchange, format!("Location is not a URL: {e}")))?;
    let flow = crate::client::flow_id_in(location)
        .ok_or_else(|| failure(exchange, format!("Location {location} has no flow parameter")))?;
    let mut without_flow = parsed.clone();
    let others: Vec<(String, String)> =
        parsed.query_pairs().filter(|(k, _)| k != "flow").map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    without_flow.set_query(None);
    if !others.is_empty() {
        without_flow.query_pairs_mut().extend_pairs(others);
    }
    if without_flow.as_str() != ui_url && without_flow.as_str() != format!("{ui_url}?") {
        return Err(failure(exchange, format!("expected a redirect to {ui_url}?flow=<id>, got {location}")));
    }
    Ok(flow)
}

pub fn header_absent(exchange: &Exchange, name: &str) -> Result<()> {
    if exchange.headers.contains_key(name) {
        return Err(failure(exchange, format!("expected no {name} header")));
    }
    Ok(())
}

/// The one `Set-Cookie` whose name is `name`.
pub fn set_cookie(exchange: &Exchange, name: &str) -> Result<String> {
    let all: Vec<&str> = exchange.headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).collect();
    let matching: Vec<&&str> = all.iter().filter(|c| c.split('=').next() == Some(name)).collect();
    match matching.as_slice() {
        [one] => Ok(one.to_string()),
        [] => Err(failure(exchange, format!("expected a Set-Cookie for {name}, there is none"))),
        _ => Err(failure(exchange, format!("expected one Set-Cookie for {name}, got {}", matching.len()))),
    }
}

/// The attributes of a `Set-Cookie` header, in order, exactly as expected:
/// `"Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax"`. `Name=*` accepts any
/// value (for `Expires`, which is a date), `Name=a..b` a whole number in that
/// range (for a `Max-Age` counted down from an expiry to the second).
pub fn cookie_attributes(exchange: &Exchange, set_cookie: &str, expected: &str) -> Result<()> {
    let actual: Vec<&str> = set_cookie.split("; ").skip(1).collect();
    let wanted: Vec<&str> = expected.split("; ").filter(|a| !a.is_empty()).collect();
    let matches = |actual: &str, wanted: &str| {
        let (Some((a_name, a_value)), Some((w_name, w_value))) = (actual.split_once('='), wanted.split_once('=')) else {
            return actual == wanted;
        };
        if a_name != w_name {
            return false;
        }
        if w_value == "*" {
            return true;
        }
        if let Some((low, high)) = w_value.split_once("..") {
            let parse = |s: &str| s.parse::<i64>().ok();
            return matches!((parse(a_value), parse(low), parse(high)), (Some(v), Some(l), Some(h)) if l <= v && v <= h);
        }
        a_value == w_value
    };
    let same = actual.len() == wanted.len() && actual.iter().zip(&wanted).all(|(a, w)| matches(a, w));
    if !same {
        return Err(failure(exchange, format!("cookie attributes: expected \"{expected}\", got \"{}\"", actual.join("; "))));
    }
    Ok(())
}

pub fn no_cookies_set(exchange: &Exchange) -> Result<()> {
    header_absent(exchange, "set-cookie")
}

/// The JSON body is an error with this status and error ID (`None`: no `id` field).
pub fn error(exchange: &Exchange, status_code: u16, id: Option<&str>) -> Result<KratosError> {
    status(exchange, status_code)?;
    let body = exchange.json()?;
    let error = KratosError::from_json(&body).ok_or_else(|| failure(exchange, "expected an error body {\"error\": ...}"))?;
    equals(exchange, "error.id", id, error.id())?;
    equals(exchange, "error.code", Some(status_code as u64), error.code())?;
    Ok(error)
}

/// The flow's nodes of the groups `expected` names (and the default group) are
/// these: the visible ones in this order, the hidden inputs in any order.
pub fn node_names(exchange: &Exchange, flow: &Flow, expected: &[&str]) -> Result<()> {
    let listed: Vec<(String, &crate::client::Node)> = flow.node_names().into_iter().zip(flow.ui.nodes.iter()).collect();
    let mut groups = vec!["default"];
    groups.extend(listed.iter().filter(|(name, _)| expected.contains(&name.as_str())).map(|(_, n)| n.group.as_str()));
    let relevant: Vec<&(String, &crate::client::Node)> = listed.iter().filter(|(_, n)| groups.contains(&n.group.as_str())).collect();
    let hidden_names: Vec<&str> = relevant.iter().filter(|(_, n)| n.is_hidden()).map(|(name, _)| name.as_str()).collect();
    let actual_visible: Vec<&str> = relevant.iter().filter(|(_, n)| !n.is_hidden()).map(|(name, _)| name.as_str()).collect();
    let mut actual_hidden = hidden_names.clone();
    actual_hidden.sort_unstable();
    let expected_visible: Vec<&str> = expected.iter().copied().filter(|name| !hidden_names.contains(name)).collect();
    let mut expected_hidden: Vec<&str> = expected.iter().copied().filter(|name| hidden_names.contains(name)).collect();
    expected_hidden.sort_unstable();
    if actual_visible != expected_visible || actual_hidden != expected_hidden {
        let actual: Vec<&str> = relevant.iter().map(|(name, _)| name.as_str()).collect();
        return Err(failure(
            exchange,
            format!("flow nodes (visible in order, hidden as a set): expected {expected:?}, got {actual:?}"),
        ));
    }
    Ok(())
}

pub fn message_ids(exchange: &Exchange, what: &str, messages: &[Message], expected: &[u64]) -> Result<()> {
    let actual: Vec<u64> = messages.iter().map(|m| m.id).collect();
    if actual != expected {
        let texts: Vec<&str> = messages.iter().map(|m| m.text.as_str()).collect();
        return Err(failure(exchange, format!("{what}: expected message ids {expected:?}, got {actual:?} {texts:?}")));
    }
    Ok(())
}

/// A JSON field (by JSON pointer) has exactly this value.
pub fn json_field(exchange: &Exchange, body: &Value, pointer: &str, expected: &Value) -> Result<()> {
    let actual = body.pointer(pointer).unwrap_or(&Value::Null);
    if actual != expected {
        return Err(failure(exchange, format!("{pointer}: expected {expected}, got {actual}")));
    }
    Ok(())
}
