//! Identity schemas: where the configuration says they are (`file://`,
//! `base64://`, `http(s)://`, or what an external deployment serves at
//! `GET /schemas`), and what their `ory.sh/kratos` extension makes of each trait:
//! password identifier, TOTP account name, verification and recovery address.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;

use super::config::CONTAINER_CONFIG_DIR;
use crate::error::SetupError;

/// One entry of `identity.schemas`, loaded.
#[derive(Debug, Clone)]
pub struct IdentitySchema {
    pub id: String,
    /// The URL as the configuration writes it.
    pub url: String,
    /// The file it was read from, for `file://` URLs (what a container gets a copy of).
    pub local_file: Option<PathBuf>,
    pub document: Value,
    /// Every trait, depth first, in the schema's order.
    pub traits: Vec<Trait>,
}

/// A trait (a leaf or an object under `properties.traits`) and what Kratos makes of it.
#[derive(Debug, Clone, Default)]
pub struct Trait {
    /// Dotted: `email`, `name.first`.
    pub path: String,
    /// Required in its parent object, and every parent is required too.
    pub required: bool,
    pub password_identifier: bool,
    pub totp_account_name: bool,
    /// `verification.via` (e.g. `email`), `recovery.via`.
    pub verification_via: Option<String>,
    pub recovery_via: Option<String>,
    /// Kratos may name the login form's identifier field after it: a password,
    /// WebAuthn or code identifier, a passkey display name or the TOTP account
    /// name, with a title.
    pub labels_identifier: bool,
    /// The trait's own schema (with local `$ref`s resolved).
    pub schema: Value,
}

impl IdentitySchema {
    pub fn from_document(id: &str, url: &str, local_file: Option<PathBuf>, document: Value) -> IdentitySchema {
        let traits = analyse(&document);
        IdentitySchema { id: id.to_string(), url: url.to_string(), local_file, document, traits }
    }

    /// The password identifier traits, in the schema's order.
    pub fn password_identifiers(&self) -> Vec<&str> {
        self.traits.iter().filter(|t| t.password_identifier).map(|t| t.path.as_str()).collect()
    }

    /// The trait whose value is the otpauth account name (Kratos falls back to the
    /// identity id without one).
    pub fn totp_account_name(&self) -> Option<&str> {
        self.traits.iter().find(|t| t.totp_account_name).map(|t| t.path.as_str())
    }

    /// The label id of the login form's identifier field: with exactly one
    /// titled identifier-like trait, Kratos uses its title (1070002); otherwise
    /// "ID" (1070004) (`selfservice/flow/login/extension_identifier_label.go`).
    pub fn identifier_label_id(&self) -> u64 {
        if self.traits.iter().filter(|t| t.labels_identifier).count() == 1 { 1070002 } else { 1070004 }
    }

    pub fn verifiable_traits(&self) -> Vec<&Trait> {
        self.traits.iter().filter(|t| t.verification_via.is_some()).collect()
    }

    pub fn get(&self, path: &str) -> Option<&Trait> {
        self.traits.iter().find(|t| t.path == path)
    }
}

/// Loads every `identity.schemas` entry. `dir` is the configuration folder: a
/// `file://` URL is read where it points, or, when that does not exist here (a
/// container path such as `/etc/config/kratos/x.json`), from the folder.
pub async fn load_all(entries: &Value, dir: &Path) -> Result<Vec<IdentitySchema>, SetupError> {
    let entries = entries.as_array().ok_or_else(|| {
        SetupError::Config(format!("{}: identity.schemas is not a list of {{id, url}}", dir.display()))
    })?;
    let mut schemas = Vec::new();
    for entry in entries {
        let (Some(id), Some(url)) = (entry.get("id").and_then(Value::as_str), entry.get("url").and_then(Value::as_str)) else {
            return Err(SetupError::Config(format!("{}: an identity.schemas entry lacks its id or url: {entry}", dir.display())));
        };
        let (document, local_file) = fetch(url, dir).await.map_err(|why| {
            SetupError::Config(format!("the identity schema \"{id}\" ({url}) cannot be read: {why}"))
        })?;
        schemas.push(IdentitySchema::from_document(id, url, local_file, document));
    }
    Ok(schemas)
}

async fn fetch(url: &str, dir: &Path) -> Result<(Value, Option<PathBuf>), String> {
    let parse = |text: &str| serde_json::from_str::<Value>(text).map_err(|e| format!("it is not JSON ({e})"));
    if let Some(encoded) = url.strip_prefix("base64://") {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(encoded.trim()))
            .map_err(|e| format!("the base64 does not decode ({e})"))?;
        return Ok((parse(&String::from_utf8_lossy(&bytes))?, None));
    }
    if let Some(path) = url.strip_prefix("file://") {
        let file = local_file(path, dir).ok_or_else(|| {
            format!("neither {path} nor a file of that name in {} exists", dir.display())
        })?;
        let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        return Ok((parse(&text)?, Some(file)));
    }
    if url.starts_with("http://") || url.starts_with("https://") {
        let http = crate::net::client(Duration::from_secs(10));
        let response = http.get(url).send().await.map_err(|e| format!("GET failed: {}", crate::net::tls::explain(&e)))?;
        if !response.status().is_success() {
            return Err(format!("GET answered {}", response.status()));
        }
        let text = response.text().await.map_err(|e| e.to_string())?;
        return Ok((parse(&text)?, None));
    }
    Err("only file://, base64:// and http(s):// URLs are supported".into())
}

/// Where a `file://` path is on this machine: the path itself, relative to the
/// configuration folder, or the folder's own copy of a container path.
pub fn local_file(path: &str, dir: &Path) -> Option<PathBuf> {
    let as_is = Path::new(path);
    let candidates = [
        as_is.is_absolute().then(|| as_is.to_path_buf()),
        Some(dir.join(path.trim_start_matches("./"))),
        path.strip_prefix(&format!("{CONTAINER_CONFIG_DIR}/")).map(|rest| dir.join(rest)),
        as_is.file_name().map(|name| dir.join(name)),
    ];
    candidates.into_iter().flatten().find(|p| p.is_file())
}

/// Walks `properties.traits` depth first and reads each trait's extension.
fn analyse(document: &Value) -> Vec<Trait> {
    let mut traits = Vec::new();
    if let Some(root) = resolve(document, document.pointer("/properties/traits").unwrap_or(&Value::Null)) {
        walk(document, root, "", true, &mut traits);
    }
    traits
}

fn walk(document: &Value, object: &Value, prefix: &str, parent_required: bool, out: &mut Vec<Trait>) {
    let required: Vec<&str> =
        object.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    let Some(properties) = object.get("properties").and_then(Value::as_object) else { return };
    for (name, schema) in properties {
        let Some(schema) = resolve(document, schema) else { continue };
        let path = if prefix.is_empty() { name.clone() } else { format!("{prefix}.{name}") };
        let is_required = parent_required && required.contains(&name.as_str());
        let extension = schema.get("ory.sh/kratos").cloned().unwrap_or(Value::Null);
        let flag = |pointer: &str| extension.pointer(pointer).and_then(Value::as_bool).unwrap_or(false);
        let via = |pointer: &str| extension.pointer(pointer).and_then(Value::as_str).map(str::to_string);
        let titled = schema.get("title").and_then(Value::as_str).is_some_and(|t| !t.is_empty());
        let names_identifier = ["/credentials/password/identifier", "/credentials/webauthn/identifier", "/credentials/passkey/display_name", "/credentials/totp/account_name", "/credentials/code/identifier"]
            .iter()
            .any(|p| flag(p));
        out.push(Trait {
            path: path.clone(),
            required: is_required,
            labels_identifier: titled && names_identifier,
            password_identifier: flag("/credentials/password/identifier"),
            totp_account_name: flag("/credentials/totp/account_name"),
            verification_via: via("/verification/via"),
            recovery_via: via("/recovery/via"),
            schema: schema.clone(),
        });
        if schema.get("properties").is_some() {
            walk(document, schema, &path, is_required, out);
        }
    }
}

/// Follows a local `$ref` (`#/definitions/x`, `#/$defs/x`); anything else is taken as it is.
pub fn resolve<'a>(document: &'a Value, schema: &'a Value) -> Option<&'a Value> {
    let mut current = schema;
    for _ in 0..16 {
        match current.get("$ref").and_then(Value::as_str) {
            Some(reference) if reference.starts_with('#') => current = document.pointer(&reference[1..])?,
            _ => return Some(current),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn customer() -> Value {
        json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "definitions": {"phone": {"type": "string", "pattern": "^\\+[1-9][0-9]{7,14}$"}},
            "properties": {"traits": {
                "type": "object",
                "required": ["email", "name"],
                "properties": {
                    "email": {"type": "string", "format": "email", "ory.sh/kratos": {
                        "credentials": {"password": {"identifier": true}, "totp": {"account_name": true}},
                        "verification": {"via": "email"}, "recovery": {"via": "email"}}},
                    "username": {"type": "string", "ory.sh/kratos": {"credentials": {"password": {"identifier": true}}}},
                    "name": {"type": "object", "required": ["first"], "properties": {
                        "first": {"type": "string"}, "last": {"type": "string"}}},
                    "phone": {"$ref": "#/definitions/phone"}
                }
            }}
        })
    }

    #[test]
    fn the_extension_marks_identifiers_account_name_and_addresses() {
        let schema = IdentitySchema::from_document("customer", "base64://x", None, customer());
        assert_eq!(schema.password_identifiers(), ["email", "username"]);
        assert_eq!(schema.totp_account_name(), Some("email"));
        assert_eq!(schema.verifiable_traits().len(), 1);
        let paths: Vec<&str> = schema.traits.iter().map(|t| t.path.as_str()).collect();
        assert_eq!(paths, ["email", "username", "name", "name.first", "name.last", "phone"]);
        assert!(schema.get("name.first").unwrap().required);
        assert!(!schema.get("name.last").unwrap().required);
        assert!(!schema.get("username").unwrap().required);
        assert_eq!(schema.get("phone").unwrap().schema["pattern"], "^\\+[1-9][0-9]{7,14}$");
    }

    #[tokio::test]
    async fn container_paths_and_base64_urls_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("kratos-config");
        let encoded = base64::engine::general_purpose::STANDARD.encode(customer().to_string());
        let entries = json!([
            {"id": "default", "url": "file:///etc/config/kratos/identity.schema.json"},
            {"id": "inline", "url": format!("base64://{encoded}")}
        ]);
        let schemas = load_all(&entries, &dir).await.unwrap();
        assert_eq!(schemas[0].password_identifiers(), ["email"]);
        assert_eq!(schemas[0].local_file.as_deref(), Some(dir.join("identity.schema.json").as_path()));
        assert_eq!(schemas[1].password_identifiers(), ["email", "username"]);
    }
}
