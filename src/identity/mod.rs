//! Identities for the scenarios: realistic fake people, and the admin API that
//! creates, reads and deletes them.

use std::sync::Arc;

use fake::Fake;
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::{Body, Exchange, Http, Request, Transcript};
use crate::deployment::{Deployment, IdentitySchema};
use crate::kratos::Kratos;
use crate::redact;

pub mod generate;

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
    /// A new person for `schema`: traits generated from it (see [`generate`]),
    /// with the team's pins and mail domain, and a strong password.
    pub fn generate(deployment: &Deployment, schema: &IdentitySchema) -> Result<Person, generate::CannotGenerate> {
        Person::from_generator(schema, generate::Generator::new(schema, &deployment.team.traits, deployment.team.mail_domain()), deployment.min_password_length())
    }

    /// A person who filled in only what the schema requires.
    pub fn generate_required_only(deployment: &Deployment, schema: &IdentitySchema) -> Result<Person, generate::CannotGenerate> {
        let generator = generate::Generator::new(schema, &deployment.team.traits, deployment.team.mail_domain()).required_only();
        Person::from_generator(schema, generator, deployment.min_password_length())
    }

    fn from_generator(schema: &IdentitySchema, generator: generate::Generator<'_>, min_password_length: usize) -> Result<Person, generate::CannotGenerate> {
        let traits = generator.generate()?;
        let identifiers = schema
            .password_identifiers()
            .iter()
            .filter_map(|path| {
                let value = path.split('.').try_fold(&traits, |v, key| v.get(key))?;
                Some(Identifier { trait_path: path.to_string(), value: value.as_str()?.to_string() })
            })
            .collect();
        let password = strong_password(min_password_length.max(STRONG_PASSWORD_LENGTH));
        Ok(Person { traits, password, identifiers })
    }

    /// The value of one identifier trait (`None`: the first one).
    pub fn identifier_of(&self, trait_path: Option<&str>) -> Option<&str> {
        match trait_path {
            Some(path) => self.identifiers.iter().find(|i| i.trait_path == path).map(|i| i.value.as_str()),
            None => self.identifiers.first().map(|i| i.value.as_str()),
        }
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

/// How long the passwords of the suite's people are, unless the deployment's
/// `min_password_length` asks for more.
pub const STRONG_PASSWORD_LENGTH: usize = 24;

/// `length` ASCII characters from all four classes: far from the identifier
/// and from any breached-password list. Registered for redaction.
pub fn strong_password(length: usize) -> String {
    const CLASSES: [&[u8]; 4] = [b"abcdefghijkmnopqrstuvwxyz", b"ABCDEFGHJKLMNPQRSTUVWXYZ", b"23456789", b"!#%+-=?@^_~"];
    let password: String = (0..length)
        .map(|i| {
            let class = CLASSES[if i < 4 { i } else { (0..4usize).fake::<usize>() }];
            char::from(class[(0..class.len()).fake::<usize>()])
        })
        .collect();
    redact::register(password.clone());
    password
}

/// A password of `characters` characters of two bytes each (Latin letters
/// with diacritics): what a password policy that counts bytes takes for
/// twice as long. Registered for redaction.
pub fn two_byte_password(characters: usize) -> String {
    const LETTERS: &[char] = &['é', 'ß', 'ø', 'å', 'ü', 'ñ', 'ç', 'Ł', 'ž', 'ğ', 'Ö', 'Ä'];
    let password: String = (0..characters).map(|_| LETTERS[(0..LETTERS.len()).fake::<usize>()]).collect();
    redact::register(password.clone());
    password
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
        let timeout = kratos.limits.http_timeout;
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

    /// The same, with metadata only the admin API may see (`metadata_admin`)
    /// beside what the identity may see of itself (`metadata_public`).
    pub async fn create_with_metadata(&self, person: &Person, schema_id: &str, public: Value, admin: Value) -> anyhow::Result<Exchange> {
        self.create_raw(json!({
            "schema_id": schema_id,
            "traits": person.traits(),
            "credentials": { "password": { "config": { "password": person.password } } },
            "metadata_public": public,
            "metadata_admin": admin,
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

    /// The id of the identity with this password identifier, if there is one
    /// (`GET /admin/identities?credentials_identifier=`). Housekeeping: the
    /// request is not part of the scenario's transcript.
    pub async fn find_by_identifier(&self, identifier: &str) -> anyhow::Result<Option<String>> {
        let mut path = "admin/identities?".to_string();
        path.push_str(&url::form_urlencoded::Serializer::new(String::new()).append_pair("credentials_identifier", identifier).finish());
        let unrecorded = AdminApi::new(Arc::clone(&self.kratos), Transcript::default());
        let exchange = unrecorded.send(Method::GET, &path, Body::Empty).await?;
        Ok(exchange.json().ok().and_then(|list| list.get(0)?.get("id")?.as_str().map(str::to_string)))
    }

    pub async fn delete(&self, id: &str) -> anyhow::Result<Exchange> {
        self.send(Method::DELETE, &format!("admin/identities/{id}"), Body::Empty).await
    }

    /// `DELETE /admin/identities/{id}/credentials/{type}`.
    pub async fn delete_credential(&self, id: &str, kind: &str) -> anyhow::Result<Exchange> {
        self.send(Method::DELETE, &format!("admin/identities/{id}/credentials/{kind}"), Body::Empty).await
    }

    /// `PATCH /admin/sessions/{id}/extend`.
    pub async fn extend_session(&self, id: &str) -> anyhow::Result<Exchange> {
        self.send(Method::PATCH, &format!("admin/sessions/{id}/extend"), Body::Empty).await
    }

    /// `POST /admin/recovery/code`: a recovery code for the identity, and the
    /// link to the recovery flow it is for (`flow_type` `browser` or `api`).
    /// A `return_to` is kept by the recovery flow (and handed to the settings flow).
    pub async fn create_recovery_code(&self, identity_id: &str, flow_type: &str, return_to: Option<&str>) -> anyhow::Result<Exchange> {
        let mut path = "admin/recovery/code".to_string();
        if let Some(url) = return_to {
            path.push('?');
            path.push_str(&url::form_urlencoded::Serializer::new(String::new()).append_pair("return_to", url).finish());
        }
        self.send(Method::POST, &path, Body::Json(json!({"identity_id": identity_id, "flow_type": flow_type}))).await
    }

    async fn send(&self, method: Method, path: &str, body: Body) -> anyhow::Result<Exchange> {
        let request = Request::new(method, self.kratos.admin(path), body).header("accept", "application/json");
        self.http.send(request).await
    }
}

/// What a 400 from identity creation means for the suite's generated traits:
/// Kratos names the trait (`I[#/traits/phone] ... does not match pattern`);
/// say which, and how to pin it in conformance.yml.
pub fn explain_refused_traits(exchange: &Exchange) -> String {
    let reason = exchange.json().ok().and_then(|b| b.pointer("/error/reason").and_then(Value::as_str).map(str::to_string)).unwrap_or_default();
    let traits: Vec<String> = reason
        .split("I[#/traits/")
        .skip(1)
        .filter_map(|rest| rest.split(']').next())
        .map(|path| path.replace('/', "."))
        .collect();
    if traits.is_empty() {
        return format!("Kratos refused the identity the suite generated: {reason}");
    }
    format!(
        "Kratos refused the generated trait{} {} ({}); pin a value or a pattern for it in conformance.yml beside your kratos.yml (traits: {{ {}: {{ pattern: \"...\" }} }})",
        if traits.len() > 1 { "s" } else { "" },
        traits.iter().map(|t| format!("traits.{t}")).collect::<Vec<_>>().join(", "),
        reason.lines().next().unwrap_or_default(),
        traits[0]
    )
}
