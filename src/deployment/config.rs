//! Reading a Kratos configuration the way Kratos reads it: `kratos.yml`, at most
//! one variant overlay from `profiles/<name>.yml`, and the suite's derived
//! overlays, merged key by key (`kratos serve -c kratos.yml -c overlay.yml`).
//!
//! A configuration folder (`KRATOS_CONFIG_DIR`) holds:
//! - `kratos.yml` (or `kratos.yaml`): the configuration under test, run as it is;
//! - `profiles/*.yml` (optional): variants of it, each under test as well (this
//!   repository's own folder has `strict` and `lax`);
//! - the files `kratos.yml` references (identity schemas, ...);
//! - `conformance.yml` (optional): what the suite cannot read from Kratos'
//!   configuration (see [`super::team`]).

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::team::TeamFile;
use crate::error::SetupError;

/// Where the configuration folder is placed inside a container, and the working
/// directory Kratos runs in there, so that relative and `/etc/config/kratos/...`
/// file URLs both resolve (the layout of Kratos' own quickstart).
pub const CONTAINER_CONFIG_DIR: &str = "/etc/config/kratos";

/// A configuration folder.
#[derive(Debug, Clone)]
pub struct ConfigDir {
    pub dir: PathBuf,
    /// `kratos.yml` or `kratos.yaml`.
    pub main_file: PathBuf,
    /// The names of `profiles/*.yml`, sorted.
    pub variants: Vec<String>,
    /// Whether this is the repository's own `kratos-config/` (whose recorded
    /// flow documentation is checked in).
    pub own: bool,
    pub team: TeamFile,
}

impl ConfigDir {
    pub fn open(dir: &Path) -> Result<ConfigDir, SetupError> {
        ConfigDir::open_as(dir, "KRATOS_CONFIG_DIR")
    }

    /// The same, for the setting `variable` (named in its errors).
    pub fn open_as(dir: &Path, variable: &str) -> Result<ConfigDir, SetupError> {
        if !dir.is_dir() {
            return Err(SetupError::Config(format!(
                "{variable}={} is not a folder; point it at the folder that holds your kratos.yml",
                dir.display()
            )));
        }
        // Absolute, since Kratos runs in the folder and relative paths would move.
        let dir = &dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        let main_file = ["kratos.yml", "kratos.yaml"].iter().map(|f| dir.join(f)).find(|p| p.is_file()).ok_or_else(|| {
            SetupError::Config(format!(
                "{} has no kratos.yml (or kratos.yaml); {variable} must name the folder of your Kratos configuration",
                dir.display()
            ))
        })?;
        let own_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("kratos-config");
        let own = same_path(dir, &own_dir);
        let team = TeamFile::load(dir)?;
        Ok(ConfigDir { dir: dir.to_path_buf(), main_file, variants: variants(dir), own, team })
    }

    pub fn variant_file(&self, variant: &str) -> PathBuf {
        self.dir.join("profiles").join(format!("{variant}.yml"))
    }

    /// `kratos.yml` with the variant's overlay merged on top.
    pub fn load(&self, variant: Option<&str>) -> Result<RawConfig, SetupError> {
        let mut merged = read_yaml(&self.main_file)?;
        let mut files = vec![self.main_file.clone()];
        if let Some(variant) = variant {
            let overlay = self.variant_file(variant);
            if !overlay.is_file() {
                let known = if self.variants.is_empty() { "it has none".to_string() } else { self.variants.join(", ") };
                return Err(SetupError::Config(format!(
                    "there is no variant \"{variant}\": {} does not exist (the variants of {}: {known})",
                    overlay.display(),
                    self.dir.display()
                )));
            }
            merge(&mut merged, read_yaml(&overlay)?);
            files.push(overlay);
        }
        Ok(RawConfig { merged, files })
    }
}

/// A merged configuration document and the files it was merged from.
#[derive(Debug, Clone)]
pub struct RawConfig {
    merged: Value,
    pub files: Vec<PathBuf>,
}

impl RawConfig {
    #[cfg(test)]
    pub fn from_value(merged: Value) -> RawConfig {
        RawConfig { merged, files: Vec::new() }
    }

    /// The value at a dotted path such as `selfservice.flows.login.ui_url`.
    pub fn get(&self, path: &str) -> Option<&Value> {
        path.split('.').try_fold(&self.merged, |v, key| v.get(key))
    }

    pub fn str(&self, path: &str) -> Option<&str> {
        self.get(path).and_then(Value::as_str)
    }

    pub fn bool(&self, path: &str) -> Option<bool> {
        self.get(path).and_then(Value::as_bool)
    }

    /// The strings of the list at a dotted path (none where it is unset).
    pub fn strings(&self, path: &str) -> Vec<String> {
        self.get(path).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect()
    }

    /// Sets a dotted path, creating the objects on the way (for derived overlays).
    pub fn set(&mut self, path: &str, value: Value) {
        let mut overlay = value;
        for key in path.rsplit('.') {
            overlay = Value::Object([(key.to_string(), overlay)].into_iter().collect());
        }
        merge(&mut self.merged, overlay);
    }

    pub fn document(&self) -> &Value {
        &self.merged
    }
}

/// The variants in `<dir>/profiles/*.yml`, sorted.
fn variants(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("profiles"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".yml").map(str::to_string))
        .collect();
    names.sort();
    names
}

fn same_path(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

pub(crate) fn read_yaml(path: &Path) -> Result<Value, SetupError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| SetupError::Config(format!("cannot read {}: {e} (is KRATOS_CONFIG_DIR right?)", path.display())))?;
    let value: Value = serde_yaml_ng::from_str(&text)
        .map_err(|e| SetupError::Config(format!("{} is not valid YAML: {}", path.display(), crate::error::one_line(&e.to_string()))))?;
    Ok(if value.is_null() { Value::Object(Default::default()) } else { value })
}

/// Objects merge key by key; anything else in `overlay` replaces what is in `base`
/// (how Kratos merges several `-c` files).
pub(crate) fn merge(base: &mut Value, overlay: Value) {
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
    fn set_creates_the_path() {
        let mut config = RawConfig::from_value(json!({"selfservice": {"flows": {"login": {"ui_url": "u"}}}}));
        config.set("selfservice.flows.login.lifespan", json!("2s"));
        assert_eq!(config.str("selfservice.flows.login.lifespan"), Some("2s"));
        assert_eq!(config.str("selfservice.flows.login.ui_url"), Some("u"));
    }

    #[test]
    fn the_repository_config_and_its_variants_load() {
        let dir = ConfigDir::open(&Path::new(env!("CARGO_MANIFEST_DIR")).join("kratos-config")).unwrap();
        assert!(dir.own);
        assert_eq!(dir.variants, ["lax", "strict"]);
        for variant in &dir.variants {
            let config = dir.load(Some(variant)).unwrap();
            assert!(config.str("selfservice.flows.login.ui_url").is_some());
        }
        let aal = |v| dir.load(Some(v)).unwrap().str("session.whoami.required_aal").map(str::to_string);
        assert_eq!(aal("strict").as_deref(), Some("highest_available"));
        assert_eq!(aal("lax").as_deref(), Some("aal1"));
    }
}
