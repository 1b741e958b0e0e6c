//! The configuration the Kratos under test runs: `kratos.yml` with one profile
//! overlay from `profiles/` merged on top, exactly as `kratos serve -c kratos.yml
//! -c profiles/<name>.yml` merges them. The suite reads its expectations (UI URLs,
//! return URLs, the TOTP issuer, lifespans) from the same files Kratos reads.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::SetupError;

/// Where the config directory is mounted or copied inside a container; the schema
/// URLs in kratos.yml point there (`file:///etc/config/kratos/...`).
pub const CONTAINER_CONFIG_DIR: &str = "/etc/config/kratos";

#[derive(Debug, Clone)]
pub struct KratosConfig {
    pub dir: PathBuf,
    pub profile: String,
    merged: Value,
}

impl KratosConfig {
    pub fn load(dir: &Path, profile: &str) -> Result<Self, SetupError> {
        let mut merged = read_yaml(&dir.join("kratos.yml"))?;
        let overlay = profile_path(dir, profile);
        if !overlay.is_file() {
            return Err(SetupError::Config(format!(
                "there is no profile \"{profile}\": {} does not exist (profiles: {})",
                overlay.display(),
                profiles(dir).join(", ")
            )));
        }
        merge(&mut merged, read_yaml(&overlay)?);
        Ok(KratosConfig { dir: dir.to_path_buf(), profile: profile.to_string(), merged })
    }

    /// The value at a dotted path such as `selfservice.flows.login.ui_url`.
    pub fn get(&self, path: &str) -> Option<&Value> {
        path.split('.').try_fold(&self.merged, |v, key| v.get(key))
    }

    /// A string the suite cannot work without; its absence is a config error.
    pub fn string(&self, path: &str) -> Result<&str, SetupError> {
        self.get(path).and_then(Value::as_str).ok_or_else(|| {
            SetupError::Config(format!("{} (profile {}) does not set {path}", self.dir.join("kratos.yml").display(), self.profile))
        })
    }

    /// The files to place next to each other in the container's config directory:
    /// kratos.yml, the profile overlay (under profiles/) and every schema file.
    pub fn files(&self) -> Result<Vec<(String, PathBuf)>, SetupError> {
        let mut files = vec![
            ("kratos.yml".to_string(), self.dir.join("kratos.yml")),
            (format!("profiles/{}.yml", self.profile), profile_path(&self.dir, &self.profile)),
        ];
        for schema in self.schema_files()? {
            files.push((schema.clone(), self.dir.join(&schema)));
        }
        Ok(files)
    }

    /// The `identity.schemas` entries, with every `file:///etc/config/kratos/X` URL
    /// rewritten to the local config directory: what a local process needs.
    pub fn local_identity_schemas(&self) -> Result<Value, SetupError> {
        let mut schemas = self.get("identity.schemas").cloned().unwrap_or(Value::Null);
        let prefix = format!("file://{CONTAINER_CONFIG_DIR}/");
        for schema in schemas.as_array_mut().into_iter().flatten() {
            if let Some(Value::String(url)) = schema.get_mut("url") {
                if let Some(file) = url.strip_prefix(&prefix) {
                    *url = format!("file://{}", self.dir.join(file).display());
                }
            }
        }
        Ok(schemas)
    }

    fn schema_files(&self) -> Result<Vec<String>, SetupError> {
        let prefix = format!("file://{CONTAINER_CONFIG_DIR}/");
        let schemas = self.get("identity.schemas").and_then(Value::as_array).cloned().unwrap_or_default();
        Ok(schemas
            .iter()
            .filter_map(|s| s.get("url").and_then(Value::as_str))
            .filter_map(|url| url.strip_prefix(&prefix).map(str::to_string))
            .collect())
    }
}

/// The profiles defined in `<dir>/profiles/*.yml`, sorted.
pub fn profiles(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("profiles"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".yml").map(str::to_string))
        .collect();
    names.sort();
    names
}

fn profile_path(dir: &Path, profile: &str) -> PathBuf {
    dir.join("profiles").join(format!("{profile}.yml"))
}

fn read_yaml(path: &Path) -> Result<Value, SetupError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| SetupError::Config(format!("cannot read {}: {e} (set KRATOS_CONFIG_DIR?)", path.display())))?;
    let value: Value = serde_yaml_ng::from_str(&text)
        .map_err(|e| SetupError::Config(format!("{} is not valid YAML: {e}", path.display())))?;
    Ok(if value.is_null() { Value::Object(Default::default()) } else { value })
}

/// Objects merge key by key; anything else in `overlay` replaces what is in `base`.
fn merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Object(base), Value::Object(overlay)) => {
            for (key, value) in overlay {
                merge(base.entry(key).or_insert(Value::Null), value);
            }
        }
        (base, overlay) => *base = overlay,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn overlays_merge_objects_and_replace_the_rest() {
        let mut base = json!({"a": {"b": 1, "c": [1, 2]}, "d": "x"});
        merge(&mut base, json!({"a": {"c": [3], "e": true}}));
        assert_eq!(base, json!({"a": {"b": 1, "c": [3], "e": true}, "d": "x"}));
    }

    #[test]
    fn every_profile_of_the_repository_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("kratos-config");
        let names = profiles(&dir);
        assert!(names.contains(&"strict".to_string()) && names.contains(&"lax".to_string()), "{names:?}");
        for name in names {
            let config = KratosConfig::load(&dir, &name).unwrap();
            assert!(config.string("selfservice.flows.login.ui_url").is_ok());
            for (_, path) in config.files().unwrap() {
                assert!(path.is_file(), "{} is missing", path.display());
            }
        }
    }

    #[test]
    fn profiles_set_what_their_names_promise() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("kratos-config");
        let aal = |p| KratosConfig::load(&dir, p).unwrap().get("session.whoami.required_aal").cloned();
        assert_eq!(aal("strict"), Some(json!("highest_available")));
        assert_eq!(aal("lax"), Some(json!("aal1")));
    }
}
