//! Traits generated from a team's identity schema, with `fake`: every required
//! trait, and the optional ones that can be generated; formats (`email`, `uri`,
//! `date`, `date-time`, `tel`, ...), `pattern` (strings that match the regex),
//! `enum` and `const`, lengths, item counts, nested objects, booleans. Password
//! identifiers are unique within the run. The result is validated against the
//! schema before it is sent; a trait the suite cannot generate is a set-up error
//! that names it and says how to pin it in `conformance.yml`.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex};

use fake::Fake;
use rand::RngExt as _;
use regex_syntax::hir::{self, Class, Hir, HirKind};
use serde_json::{Map, Value, json};

use crate::deployment::schema::{IdentitySchema, Trait, resolve};
use crate::deployment::team::TraitPin;

/// Every identifier generated in this run (lower-cased, as Kratos stores them),
/// so that concurrent scenarios never collide.
static TAKEN: LazyLock<Mutex<HashSet<String>>> = LazyLock::new(Default::default);

const ATTEMPTS: usize = 40;

/// Why a trait cannot be generated: names it and says what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CannotGenerate {
    pub trait_path: String,
    pub why: String,
}

impl std::fmt::Display for CannotGenerate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the suite cannot generate the trait \"{}\" ({}); pin a value or a pattern for it in conformance.yml beside your kratos.yml, e.g. `traits: {{ {}: {{ pattern: \"...\" }} }}`",
            self.trait_path, self.why, self.trait_path
        )
    }
}

/// Generates traits for one identity schema.
pub struct Generator<'a> {
    schema: &'a IdentitySchema,
    pins: &'a BTreeMap<String, TraitPin>,
    mail_domain: &'a str,
    validator: Option<std::sync::Arc<jsonschema::Validator>>,
    /// Only the traits the schema requires (and the team pins): a person who
    /// skipped every optional field.
    required_only: bool,
}

/// Validators by schema document: compiling one takes longer than generating
/// many identities, and a run generates hundreds for the same few schemas.
static VALIDATORS: LazyLock<Mutex<std::collections::HashMap<String, Option<std::sync::Arc<jsonschema::Validator>>>>> = LazyLock::new(Default::default);

impl<'a> Generator<'a> {
    pub fn new(schema: &'a IdentitySchema, pins: &'a BTreeMap<String, TraitPin>, mail_domain: &'a str) -> Generator<'a> {
        // Kratos validates traits against the whole identity schema as `{traits: ...}`.
        let key = schema.document.to_string();
        let validator = VALIDATORS
            .lock()
            .expect("not poisoned")
            .entry(key)
            .or_insert_with(|| jsonschema::options().should_validate_formats(true).build(&schema.document).ok().map(std::sync::Arc::new))
            .clone();
        Generator { schema, pins, mail_domain, validator, required_only: false }
    }

    /// Leaves out every optional trait the team does not pin.
    pub fn required_only(mut self) -> Self {
        self.required_only = true;
        self
    }

    /// Traits for a new identity, validated against the schema.
    pub fn generate(&self) -> Result<Value, CannotGenerate> {
        let root = resolve(&self.schema.document, self.schema.document.pointer("/properties/traits").unwrap_or(&Value::Null))
            .cloned()
            .unwrap_or(Value::Null);
        let person = Names::fake();
        let mut last_problem = None;
        for _ in 0..ATTEMPTS {
            let mut traits = self.object("", &root, &person)?;
            match self.problems(&traits) {
                problems if problems.is_empty() => {
                    if self.claim_identifiers(&traits) {
                        return Ok(traits);
                    }
                }
                problems => {
                    // An optional trait that does not validate is left out; a required
                    // one is tried again, and named if it never validates.
                    let mut required_failed = false;
                    for (path, why) in &problems {
                        if self.schema.get(path).is_some_and(|t| !t.required) && !self.pins.contains_key(path) {
                            remove(&mut traits, path);
                        } else {
                            required_failed = true;
                            last_problem = Some(CannotGenerate { trait_path: path.clone(), why: why.clone() });
                        }
                    }
                    if !required_failed && self.problems(&traits).is_empty() && self.claim_identifiers(&traits) {
                        return Ok(traits);
                    }
                }
            }
        }
        Err(last_problem.unwrap_or(CannotGenerate {
            trait_path: self.schema.password_identifiers().join(", "),
            why: format!("no unused identifier came out of {ATTEMPTS} attempts"),
        }))
    }

    /// The traits' validation errors against the schema, by trait path.
    pub fn problems(&self, traits: &Value) -> Vec<(String, String)> {
        let Some(validator) = &self.validator else { return Vec::new() };
        let instance = json!({ "traits": traits });
        validator
            .iter_errors(&instance)
            .map(|e| {
                let pointer = e.instance_path().to_string();
                let path = pointer.trim_start_matches("/traits").trim_start_matches('/').replace('/', ".");
                (if path.is_empty() { "traits".to_string() } else { path }, e.to_string())
            })
            .collect()
    }

    /// Reserves the identifiers for this run; false when one is already taken.
    fn claim_identifiers(&self, traits: &Value) -> bool {
        let values: Vec<String> = self
            .schema
            .password_identifiers()
            .iter()
            .filter_map(|path| lookup(traits, path))
            .filter_map(|v| v.as_str().map(str::to_lowercase))
            .collect();
        let mut taken = TAKEN.lock().expect("not poisoned");
        if values.iter().any(|v| taken.contains(v)) {
            return false;
        }
        taken.extend(values);
        true
    }

    fn object(&self, prefix: &str, schema: &Value, person: &Names) -> Result<Value, CannotGenerate> {
        let mut out = Map::new();
        let properties = schema.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
        let required: Vec<&str> =
            schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        for (name, property) in &properties {
            let path = if prefix.is_empty() { name.clone() } else { format!("{prefix}.{name}") };
            if self.required_only && !required.contains(&name.as_str()) && !self.pins.contains_key(&path) {
                continue;
            }
            let property = resolve(&self.schema.document, property).cloned().unwrap_or(Value::Null);
            match self.value(&path, &property, person) {
                Ok(value) => {
                    out.insert(name.clone(), value);
                }
                Err(e) if required.contains(&name.as_str()) => return Err(e),
                // An optional trait the suite cannot make is simply left out.
                Err(_) => {}
            }
        }
        Ok(Value::Object(out))
    }

    fn value(&self, path: &str, schema: &Value, person: &Names) -> Result<Value, CannotGenerate> {
        let cannot = |why: String| CannotGenerate { trait_path: path.to_string(), why };
        let mut rng = rand::rng();
        if let Some(pin) = self.pins.get(path) {
            return match pin {
                TraitPin::Value { value } | TraitPin::Bare(value) => Ok(value.clone()),
                TraitPin::OneOf { one_of } if !one_of.is_empty() => Ok(one_of[rng.random_range(0..one_of.len())].clone()),
                TraitPin::OneOf { .. } => Err(cannot("its one_of pin is empty".into())),
                TraitPin::Pattern { pattern } => from_pattern(pattern, None, None).map(Value::String).map_err(cannot),
            };
        }
        if let Some(constant) = schema.get("const") {
            return Ok(constant.clone());
        }
        // Values that are not a person's own (a choice, a number) are the same
        // for everyone, so a recorded page does not change with them.
        if let Some(choices) = schema.get("enum").and_then(Value::as_array).filter(|c| !c.is_empty()) {
            return Ok(choices[0].clone());
        }
        for branch in ["allOf", "anyOf", "oneOf"] {
            if let Some(first) = schema.get(branch).and_then(Value::as_array).and_then(|b| b.first()) {
                let mut merged = schema.clone();
                if let (Some(merged), Some(first)) = (merged.as_object_mut(), resolve(&self.schema.document, first).and_then(Value::as_object)) {
                    merged.remove(branch);
                    merged.extend(first.clone());
                }
                return self.value(path, &merged, person);
            }
        }
        match type_of(schema).as_str() {
            "object" => self.object(path, schema, person),
            "array" => {
                let min = schema.get("minItems").and_then(Value::as_u64).unwrap_or(1).max(1) as usize;
                let items = schema.get("items").and_then(|i| resolve(&self.schema.document, i)).cloned().unwrap_or(json!({"type": "string"}));
                (0..min).map(|_| self.value(path, &items, person)).collect::<Result<Vec<_>, _>>().map(Value::Array)
            }
            "boolean" => Ok(Value::Bool(true)),
            "integer" | "number" => {
                let min = schema.get("minimum").and_then(Value::as_i64).unwrap_or(1);
                let exclusive = schema.get("exclusiveMinimum").and_then(Value::as_i64).map(|m| m + 1);
                Ok(json!(exclusive.unwrap_or(min).max(min)))
            }
            "string" => self.string(path, schema, person).map(Value::String).map_err(cannot),
            other => Err(cannot(format!("its type \"{other}\" is not one the suite generates"))),
        }
    }

    fn string(&self, path: &str, schema: &Value, person: &Names) -> Result<String, String> {
        let min = schema.get("minLength").and_then(Value::as_u64).map(|n| n as usize);
        let max = schema.get("maxLength").and_then(Value::as_u64).map(|n| n as usize);
        let is_identifier = self.schema.get(path).is_some_and(|t: &Trait| t.password_identifier);
        if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
            return from_pattern(pattern, min, max);
        }
        let nonce = nonce(10);
        let mut rng = rand::rng();
        let text = match schema.get("format").and_then(Value::as_str) {
            Some("email" | "idn-email") => {
                let local = format!("{}.{}.{nonce}", ascii(&person.first), ascii(&person.last)).to_lowercase();
                let room = max.map(|m| m.saturating_sub(self.mail_domain.len() + 1)).unwrap_or(64).min(64);
                format!("{}@{}", &local[..local.len().min(room.max(1))], self.mail_domain)
            }
            Some("uri" | "url" | "iri" | "uri-reference") => format!("https://{}/{nonce}", self.mail_domain),
            Some("hostname" | "idn-hostname") => format!("host-{nonce}.{}", self.mail_domain),
            Some("date") => format!("{:04}-{:02}-{:02}", rng.random_range(1950..2006), rng.random_range(1..13), rng.random_range(1..29)),
            Some("date-time") => format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                rng.random_range(2000..2030),
                rng.random_range(1..13),
                rng.random_range(1..29),
                rng.random_range(0..24),
                rng.random_range(0..60),
                rng.random_range(0..60)
            ),
            Some("time") => format!("{:02}:{:02}:{:02}Z", rng.random_range(0..24), rng.random_range(0..60), rng.random_range(0..60)),
            // A German mobile number in E.164: valid for libphonenumber, which Kratos
            // uses for `tel`, and owned by nobody the suite knows.
            Some("tel") => format!("+49151{:08}", rng.random_range(0..100_000_000u32)),
            Some("uuid") => uuid_v4(),
            Some("ipv4") => format!("192.0.2.{}", rng.random_range(1..255)),
            Some("ipv6") => format!("2001:db8::{:x}", rng.random_range(1..0xffffu32)),
            Some(other) if !other.is_empty() && !is_identifier => return Err(format!("its format \"{other}\" is not one the suite generates")),
            _ => {
                let leaf = path.rsplit('.').next().unwrap_or(path).to_ascii_lowercase();
                if is_identifier {
                    format!("user_{nonce}")
                } else if leaf.contains("first") || leaf.contains("given") {
                    person.first.clone()
                } else if leaf.contains("last") || leaf.contains("family") || leaf.contains("surname") {
                    person.last.clone()
                } else if leaf.contains("name") {
                    format!("{} {}", person.first, person.last)
                } else {
                    fake::faker::lorem::en::Word().fake::<String>()
                }
            }
        };
        Ok(fit(text, min, max))
    }
}

/// A fake person's names, shared by the traits of one identity.
struct Names {
    first: String,
    last: String,
}

impl Names {
    /// Names no other person of the last several hundred the run made has, and
    /// a first name that is not the last. The flow documentation tells people
    /// apart by their values: two people of a scenario with one last name, or
    /// "Grant Grant", made its pages differ from run to run. So the names walk
    /// fake's lists from a random start with a stride prime to their lengths:
    /// every 474 people in a row get different last names, every 3,007
    /// different first names.
    fn fake() -> Names {
        static NEXT: LazyLock<AtomicUsize> = LazyLock::new(|| AtomicUsize::new(rand::rng().random_range(0..1_000_000)));
        Names::nth(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    fn nth(k: usize) -> Names {
        use fake::locales::{Data, EN};
        let firsts = EN::NAME_FIRST_NAME;
        let lasts = EN::NAME_LAST_NAME;
        let last = lasts[k.wrapping_mul(211) % lasts.len()];
        let first = (0..)
            .map(|step| firsts[k.wrapping_mul(1009).wrapping_add(step) % firsts.len()])
            .find(|first| !first.eq_ignore_ascii_case(last))
            .expect("the lists differ");
        Names { first: first.to_string(), last: last.to_string() }
    }
}

fn type_of(schema: &Value) -> String {
    match schema.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(types)) => types.iter().filter_map(Value::as_str).find(|t| *t != "null").unwrap_or("string").to_string(),
        _ if schema.get("properties").is_some() => "object".into(),
        _ => "string".into(),
    }
}

/// Pads (with letters) or cuts `text` to the length bounds.
fn fit(mut text: String, min: Option<usize>, max: Option<usize>) -> String {
    if let Some(min) = min {
        while text.chars().count() < min {
            text.push(char::from(b'a' + rand::rng().random_range(0..26u8)));
        }
    }
    if let Some(max) = max {
        text = text.chars().take(max).collect();
    }
    text
}

/// A string matching `pattern`, of printable ASCII so that every regex engine
/// (Kratos' Go RE2, the suite's, a browser's) agrees it matches.
pub fn from_pattern(pattern: &str, min: Option<usize>, max: Option<usize>) -> Result<String, String> {
    let stripped = pattern.strip_prefix('^').unwrap_or(pattern);
    let stripped = stripped.strip_suffix('$').filter(|s| !s.ends_with('\\')).unwrap_or(stripped);
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(stripped)
        .map_err(|e| format!("its pattern {pattern} does not parse: {}", e.to_string().lines().last().unwrap_or_default()))?;
    let hir = printable_ascii(hir).ok_or_else(|| format!("its pattern {pattern} needs characters outside printable ASCII"))?;
    let generator = rand_regex::Regex::with_hir(hir, 8).map_err(|e| format!("its pattern {pattern} cannot be generated from ({e})"))?;
    let check = regex::Regex::new(pattern).map_err(|e| format!("its pattern {pattern} does not parse ({e})"))?;
    let mut rng = rand::rng();
    for _ in 0..ATTEMPTS {
        let candidate: String = rng.sample(&generator);
        let length = candidate.chars().count();
        if check.is_match(&candidate) && min.is_none_or(|m| length >= m) && max.is_none_or(|m| length <= m) {
            return Ok(candidate);
        }
    }
    Err(format!("no string of its pattern {pattern} fits its length bounds"))
}

/// The same regex with every character class cut down to printable ASCII;
/// `None` if a class has nothing left.
fn printable_ascii(hir: Hir) -> Option<Hir> {
    let printable = hir::ClassUnicode::new([hir::ClassUnicodeRange::new(' ', '~')]);
    Some(match hir.into_kind() {
        HirKind::Class(Class::Unicode(mut class)) => {
            class.intersect(&printable);
            if class.ranges().is_empty() {
                return None;
            }
            Hir::class(Class::Unicode(class))
        }
        HirKind::Class(Class::Bytes(mut class)) => {
            class.intersect(&hir::ClassBytes::new([hir::ClassBytesRange::new(b' ', b'~')]));
            if class.ranges().is_empty() {
                return None;
            }
            Hir::class(Class::Bytes(class))
        }
        HirKind::Repetition(mut repetition) => {
            repetition.sub = Box::new(printable_ascii(*repetition.sub)?);
            Hir::repetition(repetition)
        }
        HirKind::Capture(mut capture) => {
            capture.sub = Box::new(printable_ascii(*capture.sub)?);
            Hir::capture(capture)
        }
        HirKind::Concat(items) => Hir::concat(items.into_iter().map(printable_ascii).collect::<Option<Vec<_>>>()?),
        HirKind::Alternation(items) => {
            let kept: Vec<Hir> = items.into_iter().filter_map(printable_ascii).collect();
            if kept.is_empty() {
                return None;
            }
            Hir::alternation(kept)
        }
        HirKind::Empty => Hir::empty(),
        HirKind::Literal(literal) => Hir::literal(literal.0),
        HirKind::Look(look) => Hir::look(look),
    })
}

fn lookup<'v>(traits: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(traits, |v, key| v.get(key))
}

fn remove(traits: &mut Value, path: &str) {
    let (parent, leaf) = path.rsplit_once('.').unwrap_or(("", path));
    let parent = if parent.is_empty() { Some(traits) } else { parent.split('.').try_fold(traits, |v, key| v.get_mut(key)) };
    if let Some(Value::Object(map)) = parent {
        map.remove(leaf);
    }
}

fn ascii(s: &str) -> String {
    s.chars().filter(char::is_ascii_alphabetic).collect()
}

/// Lowercase letters and digits: unique per identity, safe in any identifier.
pub use crate::random::nonce;

fn uuid_v4() -> String {
    let mut rng = rand::rng();
    let mut bytes: [u8; 16] = rng.random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_made_close_together_do_not_share_names() {
        let start = rand::rng().random_range(0..1_000_000);
        let people: Vec<Names> = (start..start + 474).map(Names::nth).collect();
        let lasts: HashSet<&str> = people.iter().map(|p| p.last.as_str()).collect();
        assert_eq!(lasts.len(), people.len());
        assert!(people.iter().all(|p| !p.first.eq_ignore_ascii_case(&p.last)));
    }

    fn schema(traits: Value) -> IdentitySchema {
        IdentitySchema::from_document(
            "t",
            "base64://",
            None,
            json!({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "properties": {"traits": traits}}),
        )
    }

    fn customer() -> IdentitySchema {
        schema(json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["email", "username", "name", "tos_accepted"],
            "properties": {
                "email": {"type": "string", "format": "email", "maxLength": 64, "ory.sh/kratos": {"credentials": {"password": {"identifier": true}}}},
                "username": {"type": "string", "pattern": "^[a-z][a-z0-9_]{2,31}$", "ory.sh/kratos": {"credentials": {"password": {"identifier": true}}}},
                "name": {"type": "object", "required": ["first", "last"], "properties": {
                    "first": {"type": "string", "minLength": 1, "maxLength": 64},
                    "last": {"type": "string", "minLength": 1, "maxLength": 64}}},
                "tos_accepted": {"type": "boolean", "const": true},
                "phone": {"type": "string", "pattern": "^\\+[1-9][0-9]{7,14}$"},
                "plan": {"type": "string", "enum": ["free", "pro"]},
                "born": {"type": "string", "format": "date"},
                "tags": {"type": "array", "minItems": 2, "items": {"type": "string", "pattern": "^[A-Z]{3}$"}},
                "employee_id": {"type": "string", "pattern": "^E[0-9]{6}$"}
            }
        }))
    }

    #[test]
    fn every_trait_of_a_rich_schema_is_generated_and_valid() {
        let schema = customer();
        let pins = BTreeMap::new();
        let generator = Generator::new(&schema, &pins, "example.org");
        let (username, employee_id) = (regex::Regex::new("^[a-z][a-z0-9_]{2,31}$").unwrap(), regex::Regex::new("^E[0-9]{6}$").unwrap());
        for _ in 0..50 {
            let traits = generator.generate().unwrap();
            assert!(generator.problems(&traits).is_empty(), "{traits}");
            assert_eq!(traits["tos_accepted"], true);
            assert!(traits["email"].as_str().unwrap().ends_with("@example.org"));
            assert!(username.is_match(traits["username"].as_str().unwrap()));
            assert!(employee_id.is_match(traits["employee_id"].as_str().unwrap()));
            assert_eq!(traits["tags"].as_array().unwrap().len(), 2);
            assert!(!traits["name"]["first"].as_str().unwrap().is_empty());
        }
    }

    #[test]
    fn identifiers_are_unique_within_the_run() {
        let schema = schema(json!({"type": "object", "required": ["id"], "properties": {
            "id": {"type": "string", "pattern": "^[0-9]{2}$", "ory.sh/kratos": {"credentials": {"password": {"identifier": true}}}}}}));
        let pins = BTreeMap::new();
        let generator = Generator::new(&schema, &pins, "example.org");
        let ids: HashSet<String> = (0..30).map(|_| generator.generate().unwrap()["id"].as_str().unwrap().to_string()).collect();
        assert_eq!(ids.len(), 30);
    }

    #[test]
    fn pins_win_and_an_impossible_required_trait_is_named() {
        let schema = schema(json!({"type": "object", "required": ["code", "region"], "properties": {
            "code": {"type": "string", "format": "x-custom-format"},
            "region": {"type": "string", "pattern": "^(eu|us)$"}}}));
        let none = BTreeMap::new();
        let error = Generator::new(&schema, &none, "example.org").generate().unwrap_err();
        assert_eq!(error.trait_path, "code");
        assert!(error.to_string().contains("conformance.yml"), "{error}");
        let pins = BTreeMap::from([("code".to_string(), TraitPin::Pattern { pattern: "^C-[0-9]{4}$".into() })]);
        let traits = Generator::new(&schema, &pins, "example.org").generate().unwrap();
        assert!(traits["code"].as_str().unwrap().starts_with("C-"));
        assert!(["eu", "us"].contains(&traits["region"].as_str().unwrap()));
        let enumerated = schema_with_enum();
        let traits = Generator::new(&enumerated, &BTreeMap::new(), "example.org").generate().unwrap();
        assert_eq!(traits["plan"], "free", "a choice is the same for everyone: the first");
    }

    fn schema_with_enum() -> IdentitySchema {
        schema(json!({"type": "object", "required": ["plan"], "properties": {"plan": {"type": "string", "enum": ["free", "pro"]}}}))
    }

    #[test]
    fn patterns_yield_printable_ascii() {
        for pattern in [r"^\d{4}-\d{2}$", r"^\w{5,8}$", r"^.{3}$", r"^[^@]+@[a-z]+\.test$"] {
            let text = from_pattern(pattern, None, None).unwrap();
            assert!(text.chars().all(|c| (' '..='~').contains(&c)), "{pattern}: {text:?}");
            assert!(regex::Regex::new(pattern).unwrap().is_match(&text), "{pattern}: {text:?}");
        }
    }
}
