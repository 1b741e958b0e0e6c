//! Identities for the scenarios: realistic fake people, and the admin API that
//! creates, reads and deletes them.

use std::sync::Arc;

use fake::Fake;
use fake::faker::name::en::{FirstName, LastName};
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::{Body, Exchange, Http, Request, Transcript};
use crate::kratos::Kratos;
use crate::redact;

/// The schema whose `email` trait is the password identifier and the TOTP account name.
pub const DEFAULT_SCHEMA: &str = "default";
/// The same traits without `totp.account_name`.
pub const SCHEMA_WITHOUT_TOTP_ACCOUNT_NAME: &str = "no-totp-account-name";

/// A fake person: the traits of an identity, as its schema shapes them, and a
/// strong password.
#[derive(Clone)]
pub struct Person {
    pub traits: Value,
    pub password: String,
    /// The traits that are password identifiers, in the schema's order.
    pub identifiers: Vec<Identifier>,
}

/// A password identifier: the trait it is (`email`, `name.login`) and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identifier {
    pub trait_path: String,
    pub value: String,
}

impl std::fmt::Debug for Person {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Person").field("traits", &self.traits).field("password", &redact::REDACTED).finish()
    }
}

impl Person {
    pub fn fake() -> Person {
        let first_name: String = FirstName().fake();
        let last_name: String = LastName().fake();
        // Unique per scenario, so concurrent scenarios never collide; Kratos stores
        // identifiers lower-cased, so generate them that way.
        let nonce: String = (0..10).map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[(0..36usize).fake::<usize>()])).collect();
        let email = format!("{}.{}.{nonce}@example.org", ascii(&first_name), ascii(&last_name)).to_lowercase();
        let password = strong_password();
        redact::register(password.clone());
        let traits = json!({ "email": email, "name": { "first": first_name, "last": last_name } });
        Person { traits, password, identifiers: vec![Identifier { trait_path: "email".into(), value: email }] }
    }

    pub fn traits(&self) -> Value {
        self.traits.clone()
    }

    /// The first password identifier's value (what a login form is filled with).
    pub fn identifier(&self) -> &str {
        self.identifiers.first().map(|i| i.value.as_str()).unwrap_or_default()
    }

    /// A trait's string value by its dotted path (`name.first`).
    pub fn trait_str(&self, path: &str) -> Option<&str> {
        path.split('.').try_fold(&self.traits, |v, key| v.get(key))?.as_str()
    }

    /// Every string in the traits, with its dotted path: what identifies this
    /// person in a recorded exchange.
    pub fn trait_strings(&self) -> Vec<(String, String)> {
        fn walk(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
            match value {
                Value::Object(map) => {
                    for (key, value) in map {
                        let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                        walk(&path, value, out);
                    }
                }
                Value::Array(items) => items.iter().for_each(|item| walk(prefix, item, out)),
                Value::String(s) => out.push((prefix.to_string(), s.clone())),
                _ => {}
            }
        }
        let mut out = Vec::new();
        walk("", &self.traits, &mut out);
        out
    }
}

fn ascii(s: &str) -> String {
    s.chars().filter(char::is_ascii_alphabetic).collect()
}

/// 24 characters from all four classes: far from the identifier and from any
/// breached-password list.
fn strong_password() -> String {
    const CLASSES: [&[u8]; 4] = [b"abcdefghijkmnopqrstuvwxyz", b"ABCDEFGHJKLMNPQRSTUVWXYZ", b"23456789", b"!#%+-=?@^_~"];
    (0..24)
        .map(|i| {
            let class = CLASSES[if i < 4 { i } else { (0..4usize).fake::<usize>() }];
            char::from(class[(0..class.len()).fake::<usize>()])
        })
        .collect()
}

/// An identity in Kratos, and the person it belongs to.
#[derive(Debug, Clone)]
pub struct Identity {
    pub id: String,
    pub person: Person,
    pub schema_id: String,
}

/// The admin API (`/admin/identities...`). Kratos' OSS admin API has no
/// authentication; it must only be reachable by trusted callers.
#[derive(Debug, Clone)]
pub struct AdminApi {
    http: Http,
    kratos: Arc<Kratos>,
}

impl AdminApi {
    pub fn new(kratos: Arc<Kratos>, transcript: Transcript) -> AdminApi {
        let timeout = crate::kratos::instances().settings.http_timeout;
        AdminApi { http: Http::new(false, transcript, timeout).with_gate(kratos.gate.clone()), kratos }
    }

    /// `POST /admin/identities` with a cleartext password credential.
    pub async fn create(&self, person: &Person, schema_id: &str) -> anyhow::Result<Exchange> {
        self.create_raw(json!({
            "schema_id": schema_id,
            "traits": person.traits(),
            "credentials": { "password": { "config": { "password": person.password } } },
        }))
        .await
    }

    pub async fn create_raw(&self, body: Value) -> anyhow::Result<Exchange> {
        self.send(Method::POST, "admin/identities", Body::Json(body)).await
    }

    /// `GET /admin/identities/{id}`, optionally `?include_credential=<type>`.
    pub async fn get(&self, id: &str, include_credential: Option<&str>) -> anyhow::Result<Exchange> {
        let path = match include_credential {
            Some(kind) => format!("admin/identities/{id}?include_credential={kind}"),
            None => format!("admin/identities/{id}"),
        };
        self.send(Method::GET, &path, Body::Empty).await
    }

    pub async fn delete(&self, id: &str) -> anyhow::Result<Exchange> {
        self.send(Method::DELETE, &format!("admin/identities/{id}"), Body::Empty).await
    }

    /// `DELETE /admin/identities/{id}/credentials/{type}`.
    pub async fn delete_credential(&self, id: &str, kind: &str) -> anyhow::Result<Exchange> {
        self.send(Method::DELETE, &format!("admin/identities/{id}/credentials/{kind}"), Body::Empty).await
    }

    async fn send(&self, method: Method, path: &str, body: Body) -> anyhow::Result<Exchange> {
        let request = Request::new(method, self.kratos.admin(path), body).header("accept", "application/json");
        self.http.send(request).await
    }
}
