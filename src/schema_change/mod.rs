//! What existing users will experience after a change of the identity schema
//! or the configuration, before the change ships.
//!
//! With `KRATOS_PREVIOUS_CONFIG_DIR` (the configuration before the change), the
//! launcher starts Kratos with that configuration on a database that outlives
//! a restart, and [`prepare`] creates there identities of every kind a team has
//! (from the previous schema) and records what each can do ([`probe`]). Kratos
//! is then started with the current configuration on the same database, and the
//! `@schema-change` scenarios ask the same again, compare, and fail where an
//! answer that worked before no longer does. [`report`] writes both side by
//! side, for a pull request.

pub mod probe;
pub mod report;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use serde_json::{json, Value};

use crate::client::{Client, ClientKind, FlowKind, Transcript};
use crate::deployment::IdentitySchema;
use crate::identity::{AdminApi, Identifier, Person};
use crate::kratos::Kratos;
use crate::totp::Authenticator;
pub use probe::{Aspect, Factor, Observed, Outcome};

/// The kinds of identity a team has when it changes its schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    PasswordOnly,
    PasswordAndApp,
    PasswordAppAndCodes,
    Registered,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::PasswordOnly, Kind::PasswordAndApp, Kind::PasswordAppAndCodes, Kind::Registered];

    /// As the feature and the report name it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::PasswordOnly => "a password only",
            Kind::PasswordAndApp => "a password and an authenticator app",
            Kind::PasswordAppAndCodes => "a password, an authenticator app and recovery codes",
            Kind::Registered => "a self-service registration",
        }
    }

    /// How identities of this kind came about, for the report.
    pub fn origin(self) -> &'static str {
        match self {
            Kind::PasswordOnly => "admin API, only the traits the schema requires",
            Kind::PasswordAndApp | Kind::PasswordAppAndCodes => "admin API, every trait the suite can fill in",
            Kind::Registered => "self-service registration (native app), every trait the suite can fill in",
        }
    }

    pub fn parse(text: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == text)
    }

    fn has_app(self) -> bool {
        matches!(self, Kind::PasswordAndApp | Kind::PasswordAppAndCodes)
    }
}

/// One identity created under the previous configuration, with what its user
/// holds: a password, the identifiers it had, an app, unused recovery codes.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub person: Person,
    /// Its password identifiers under the previous schema.
    pub identifiers: Vec<Identifier>,
    pub authenticator: Option<Authenticator>,
    recovery_codes: Arc<Mutex<Vec<String>>>,
}

impl Account {
    /// One unused recovery code (each is good for one login).
    pub fn take_recovery_code(&self) -> Option<String> {
        self.recovery_codes.lock().expect("not poisoned").pop()
    }
}

/// The identities of one kind: one whose logins are asked, and a twin whose
/// profile is saved (a save can change what logs in, so it must not run
/// before or beside the logins of the same identity).
#[derive(Debug, Clone)]
pub struct Existing {
    pub kind: Kind,
    pub schema_id: String,
    pub account: Account,
    pub twin: Account,
    /// What it could do under the previous configuration.
    pub before: Observed,
}

impl Existing {
    /// What its kind is asked, in order: the logins with each identifier it
    /// had, AAL2 with what it holds, whoami, its profile, and (without an app)
    /// the account name a pairing shows.
    pub fn aspects(kind: Kind, account: &Account, pairs: bool) -> Vec<Aspect> {
        let mut aspects: Vec<Aspect> = account.identifiers.iter().map(|i| Aspect::Login(i.trait_path.clone())).collect();
        if account.authenticator.is_some() {
            aspects.push(Aspect::Aal2(Factor::App));
        }
        if kind == Kind::PasswordAppAndCodes {
            aspects.push(Aspect::Aal2(Factor::RecoveryCode));
        }
        aspects.push(Aspect::Whoami);
        aspects.push(Aspect::SettingsProfile);
        // After the save, in this order: what the save changed of the logins.
        aspects.extend(account.identifiers.iter().map(|i| Aspect::LoginAfterSave(i.trait_path.clone())));
        if account.authenticator.is_none() && pairs {
            aspects.push(Aspect::AccountName);
        }
        aspects
    }

    /// Compares an answer after the change with the one before, and keeps it
    /// for the report. What worked must still work and show the same; where it
    /// does not, what changed, naming the kind, what was asked, the traits
    /// involved and what changed in the schema.
    pub fn changed(&self, record: &ChangeRecord, aspect: &Aspect, after: &Outcome) -> Option<String> {
        record.record_after(self.kind, aspect.clone(), after.clone());
        let Some(before) = self.before.get(aspect) else {
            return Some(format!("{} was not asked of the identities with {} before the change", aspect.describe(), self.kind.name()));
        };
        if !before.works() || before == after {
            return None;
        }
        let diff = record.diff();
        let mut message = match (before, after) {
            (Outcome::Works(was), Outcome::Refused(said)) => format!(
                "the identity with {} (created before the change): {} worked before the change ({was}) and is refused now: {said}",
                self.kind.name(),
                aspect.describe()
            ),
            (Outcome::Works(was), Outcome::Works(is)) => format!(
                "the identity with {} (created before the change): {} was {was} before the change and is {is} now",
                self.kind.name(),
                aspect.describe()
            ),
            (Outcome::Refused(_), _) => unreachable!("only what worked is compared"),
        };
        if let Some(why) = diff.explain(aspect, after) {
            message.push_str(&format!("\nwhat changed in the schema \"{}\": {why}", diff.schema_id));
        }
        Some(message)
    }
}

/// What changed between the schema an identity was created with and the one
/// with its id now: what failure messages and the report name.
#[derive(Debug, Clone, Default)]
pub struct SchemaDiff {
    pub schema_id: String,
    /// The schema id no longer exists in the current configuration.
    pub schema_gone: bool,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub now_required: Vec<String>,
    /// Traits in both schemas whose values are judged differently now
    /// (`type`, `format`, `pattern`, `enum`, lengths, bounds): `(trait, what)`.
    pub constraints_changed: Vec<(String, String)>,
    pub identifiers_added: Vec<String>,
    pub identifiers_removed: Vec<String>,
    /// The account-name trait before and after (`None`: the identity id).
    pub account_name: (Option<String>, Option<String>),
}

impl SchemaDiff {
    pub fn between(previous: &IdentitySchema, current: Option<&IdentitySchema>) -> SchemaDiff {
        let Some(current) = current else {
            return SchemaDiff { schema_id: previous.id.clone(), schema_gone: true, ..Default::default() };
        };
        let paths = |s: &IdentitySchema| s.traits.iter().map(|t| t.path.clone()).collect::<Vec<_>>();
        let (before, after) = (paths(previous), paths(current));
        let identifiers = |s: &IdentitySchema| s.password_identifiers().iter().map(|p| p.to_string()).collect::<Vec<_>>();
        let (ids_before, ids_after) = (identifiers(previous), identifiers(current));
        SchemaDiff {
            schema_id: previous.id.clone(),
            schema_gone: false,
            added: after.iter().filter(|p| !before.contains(p)).cloned().collect(),
            removed: before.iter().filter(|p| !after.contains(p)).cloned().collect(),
            now_required: current
                .traits
                .iter()
                .filter(|t| t.required && previous.get(&t.path).is_none_or(|p| !p.required))
                .map(|t| t.path.clone())
                .collect(),
            constraints_changed: current
                .traits
                .iter()
                .filter_map(|t| previous.get(&t.path).map(|p| (t, p)))
                .flat_map(|(now, was)| constraint_changes(&was.schema, &now.schema).into_iter().map(|what| (now.path.clone(), what)))
                .collect(),
            identifiers_added: ids_after.iter().filter(|p| !ids_before.contains(p)).cloned().collect(),
            identifiers_removed: ids_before.iter().filter(|p| !ids_after.contains(p)).cloned().collect(),
            account_name: (previous.totp_account_name().map(str::to_string), current.totp_account_name().map(str::to_string)),
        }
    }

    /// Why `trait_path` may behave differently now, if the schema says.
    pub fn about(&self, trait_path: &str) -> Option<String> {
        if self.schema_gone {
            return Some(format!("the schema \"{}\" is gone from the configuration", self.schema_id));
        }
        if self.removed.iter().any(|p| p == trait_path) {
            return Some(format!("{trait_path} was removed from the schema"));
        }
        if self.identifiers_removed.iter().any(|p| p == trait_path) {
            return Some(format!("{trait_path} is no longer a password identifier"));
        }
        if self.now_required.iter().any(|p| p == trait_path) {
            return Some(format!("{trait_path} is now required"));
        }
        let changed: Vec<&str> = self.constraints_changed.iter().filter(|(p, _)| p == trait_path).map(|(_, what)| what.as_str()).collect();
        if !changed.is_empty() {
            return Some(format!("{trait_path}'s {}", changed.join(", ")));
        }
        None
    }

    /// The schema changes that bear on `aspect` answering `after`: its trait,
    /// the traits Kratos named in a refusal, or the account-name trait.
    pub fn explain(&self, aspect: &Aspect, after: &Outcome) -> Option<String> {
        let mut why: Vec<String> = Vec::new();
        if self.schema_gone {
            return self.about("");
        }
        match aspect {
            Aspect::Login(trait_path) | Aspect::LoginAfterSave(trait_path) => why.extend(self.about(trait_path)),
            Aspect::AccountName if self.account_name.0 != self.account_name.1 => {
                let name = |t: &Option<String>| t.clone().map(|t| format!("trait {t}")).unwrap_or_else(|| "the identity id".into());
                why.push(format!("the account name was {} and is {} now", name(&self.account_name.0), name(&self.account_name.1)));
            }
            _ => {}
        }
        if let Outcome::Refused(said) = after {
            // The traits Kratos named (`traits.phone: 4000002 ...`,
            // `additionalProperties "username" not allowed`).
            let constrained = self.constraints_changed.iter().map(|(p, _)| p);
            let changed = self.removed.iter().chain(&self.now_required).chain(&self.identifiers_removed).chain(constrained);
            for named in changed.filter(|t| said.contains(&format!("traits.{t}")) || said.contains(&format!("\"{t}\""))) {
                why.extend(self.about(named).filter(|w| !why.contains(w)));
            }
        }
        if why.is_empty() && !matches!(aspect, Aspect::Login(_) | Aspect::LoginAfterSave(_) | Aspect::AccountName) {
            // Nothing names a trait (an identity that no longer validates cannot
            // be updated, e.g. to use up a recovery code): every change may count.
            why.extend(self.lines());
        }
        (!why.is_empty()).then(|| why.join("; "))
    }

    /// The changes, one line each, for the report.
    pub fn lines(&self) -> Vec<String> {
        if self.schema_gone {
            return vec![format!("the schema \"{}\" is gone: its identities cannot be loaded", self.schema_id)];
        }
        let mut lines = Vec::new();
        let list = |label: &str, items: &[String], lines: &mut Vec<String>| {
            if !items.is_empty() {
                lines.push(format!("{label}: {}", items.join(", ")));
            }
        };
        list("traits added", &self.added, &mut lines);
        list("traits removed", &self.removed, &mut lines);
        list("traits now required", &self.now_required, &mut lines);
        let constrained: Vec<String> = self.constraints_changed.iter().map(|(p, what)| format!("{p}'s {what}")).collect();
        list("traits judged differently", &constrained, &mut lines);
        list("password identifiers added", &self.identifiers_added, &mut lines);
        list("password identifiers removed", &self.identifiers_removed, &mut lines);
        if self.account_name.0 != self.account_name.1 {
            let name = |t: &Option<String>| t.clone().unwrap_or_else(|| "the identity id".into());
            lines.push(format!("TOTP account name: {} → {}", name(&self.account_name.0), name(&self.account_name.1)));
        }
        lines
    }
}

/// The keywords of a trait's schema that decide whether a stored value still
/// validates, as they differ between two versions: `pattern ^a$ → ^b$`.
fn constraint_changes(was: &Value, now: &Value) -> Vec<String> {
    const DECIDING: [&str; 10] = ["type", "format", "pattern", "enum", "const", "minLength", "maxLength", "minimum", "maximum", "additionalProperties"];
    let shown = |v: Option<&Value>| match v {
        None => "none".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    DECIDING
        .iter()
        .filter(|k| was.get(**k) != now.get(**k))
        .map(|k| format!("{k} changed ({} → {})", shown(was.get(*k)), shown(now.get(*k))))
        .collect()
}

/// One instance's change: the identities created before it, what changed in
/// their schema, and what the scenarios found after it. Each instance after a
/// change has its own (an instance with a setting turned has identities of its
/// own), and carries it ([`crate::kratos::Kratos::change`]): nothing of it is
/// shared by the process, so two runs in one process keep theirs apart.
#[derive(Debug, Default)]
pub struct Change {
    existing: Vec<Existing>,
    diff: SchemaDiff,
    /// The previous configuration is the current one.
    same_configuration: bool,
    /// How long starting Kratos before the change, creating the identities,
    /// asking them and stopping it took.
    before_took: std::time::Duration,
    after: BTreeMap<Kind, Observed>,
}

/// An instance's [`Change`], written by its scenarios as they run.
#[derive(Debug, Default)]
pub struct ChangeRecord(Mutex<Change>);

impl Change {
    /// The change of identities created under the previous configuration
    /// (by [`prepare`]), once the current configuration runs with `current`
    /// schemas.
    pub fn new(prepared: Prepared, current: &[IdentitySchema], same_configuration: bool, before_took: std::time::Duration) -> Change {
        let diff = SchemaDiff::between(&prepared.schema, current.iter().find(|s| s.id == prepared.schema.id));
        Change { existing: prepared.existing, diff, same_configuration, before_took, after: BTreeMap::new() }
    }
}

impl ChangeRecord {
    pub fn new(change: Change) -> ChangeRecord {
        ChangeRecord(Mutex::new(change))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Change> {
        self.0.lock().expect("not poisoned")
    }

    /// The identities of `kind` created under the previous configuration.
    pub fn existing_of(&self, kind: Kind) -> Result<Existing> {
        self.lock().existing.iter().find(|e| e.kind == kind).cloned().with_context(|| {
            format!("no identity with {} was created under the previous configuration (the kind needs what it lacks: TOTP, recovery codes or registration)", kind.name())
        })
    }

    /// What changed in the schema of the existing identities.
    pub fn diff(&self) -> SchemaDiff {
        self.lock().diff.clone()
    }

    /// Records what a scenario found an identity of `kind` does after the change.
    fn record_after(&self, kind: Kind, aspect: Aspect, outcome: Outcome) {
        self.lock().after.entry(kind).or_default().insert(aspect, outcome);
    }

    /// What the run did before the change, for the runner's account of the
    /// deployment.
    pub fn describe(&self, previous: &std::path::Path) -> String {
        let change = self.lock();
        let kinds: Vec<&str> = change.existing.iter().map(|e| e.kind.name()).collect();
        let mut text = format!(
            "before the change (the configuration in {}): identities with {} created and asked, in {:.1?} with Kratos' start and stop; then Kratos restarted with the current configuration on the same database",
            previous.display(),
            kinds.join("; "),
            change.before_took
        );
        if change.same_configuration {
            text.push_str("\n  the previous configuration is the current one (KRATOS_PREVIOUS_CONFIG_DIR unset, or the same): the scenarios about the change check that a restart changes nothing (they must all pass)");
        }
        text
    }

    /// The report's view of the change: its rows, the schema's changes, and
    /// whether the configuration was the same.
    pub(crate) fn snapshot(&self) -> (Rows, SchemaDiff, bool) {
        let change = self.lock();
        let rows = change.existing.iter().map(|e| (e.kind, e.before.clone(), change.after.get(&e.kind).cloned())).collect();
        (rows, change.diff.clone(), change.same_configuration)
    }
}

/// Per kind: what it did before the change, and after (where asked).
pub(crate) type Rows = Vec<(Kind, Observed, Option<Observed>)>;

/// What [`prepare`] made under the previous configuration: the identities,
/// and the schema they were created with.
#[derive(Debug)]
pub struct Prepared {
    existing: Vec<Existing>,
    schema: IdentitySchema,
}

/// What the suite does across a change of configuration, for the launcher to
/// sequence ([`crate::kratos::AcrossChange`]): [`prepare`] on the earlier
/// Kratos, then the instance's [`ChangeRecord`].
#[derive(Debug, Default, Clone, Copy)]
pub struct Identities;

impl crate::kratos::AcrossChange for Identities {
    fn before<'a>(&'a self, earlier: &'a Arc<Kratos>) -> futures::future::BoxFuture<'a, Result<Box<dyn std::any::Any + Send>, String>> {
        Box::pin(async move {
            let prepared = prepare(earlier).await.map_err(|e| format!("{e:#}"))?;
            Ok(Box::new(prepared) as Box<dyn std::any::Any + Send>)
        })
    }

    fn after(&self, before: Box<dyn std::any::Any + Send>, now: &Kratos, same_configuration: bool, before_took: std::time::Duration) -> Arc<dyn std::any::Any + Send + Sync> {
        let prepared = *before.downcast::<Prepared>().expect("what Identities::before made");
        Arc::new(ChangeRecord::new(Change::new(prepared, &now.deployment.schemas, same_configuration, before_took)))
    }
}

/// The record of the change an instance was started after, if it was.
pub fn record_of(kratos: &Kratos) -> Option<Arc<ChangeRecord>> {
    kratos.change.clone().and_then(|change| change.downcast::<ChangeRecord>().ok())
}

/// Creates the identities on the Kratos of the previous configuration and
/// records what each can do there. Kinds the configuration cannot have (no
/// TOTP, no recovery codes, no registration) are left out.
pub async fn prepare(kratos: &Arc<Kratos>) -> Result<Prepared> {
    let deployment = &kratos.deployment;
    let transcript = Transcript::default();
    let schema = deployment.default_schema().clone();
    let mut existing = Vec::new();
    for kind in Kind::ALL {
        if (kind.has_app() && !deployment.methods.totp)
            || (kind == Kind::PasswordAppAndCodes && !deployment.methods.lookup_secret)
            || (kind == Kind::Registered && !deployment.registration_enabled)
        {
            continue;
        }
        let account = create(kratos, kind, &schema, &transcript).await.with_context(|| format!("creating an identity with {}", kind.name()))?;
        let twin = create(kratos, kind, &schema, &transcript).await.with_context(|| format!("creating an identity with {}", kind.name()))?;
        let mut created = Existing { kind, schema_id: schema.id.clone(), account, twin, before: Observed::new() };
        created.before = observe(kratos, &transcript, &created).await.with_context(|| format!("asking what an identity with {} can do", kind.name()))?;
        existing.push(created);
    }
    Ok(Prepared { existing, schema })
}

/// Everything [`probe`] asks of a kind, in order.
async fn observe(kratos: &Arc<Kratos>, transcript: &Transcript, existing: &Existing) -> Result<Observed> {
    let mut observed = Observed::new();
    for aspect in Existing::aspects(existing.kind, &existing.account, deployment_pairs(kratos)) {
        let (outcome, _) = probe::ask(kratos, transcript, existing, &aspect).await?;
        observed.insert(aspect, outcome);
    }
    Ok(observed)
}

fn deployment_pairs(kratos: &Kratos) -> bool {
    kratos.deployment.methods.totp
}

/// One identity of `kind`, with what its user holds.
async fn create(kratos: &Arc<Kratos>, kind: Kind, schema: &IdentitySchema, transcript: &Transcript) -> Result<Account> {
    let deployment = &kratos.deployment;
    let person = match kind {
        Kind::PasswordOnly => Person::generate_required_only(deployment, schema),
        _ => Person::generate(deployment, schema),
    }
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let id = if kind == Kind::Registered {
        register(kratos, &person, transcript).await?
    } else {
        let created = AdminApi::new(Arc::clone(kratos), transcript.clone()).create(&person, &schema.id).await?;
        crate::check::status(&created, 201)?;
        created.json()?["id"].as_str().context("the created identity has no id")?.to_string()
    };
    let mut app = Client::new(ClientKind::Native, Arc::clone(kratos), transcript.clone());
    let mut recovery_codes = Vec::new();
    let mut authenticator = None;
    if kind.has_app() {
        app.password_step(person.identifier(), &person.password).await?;
        authenticator = Some(app.pair_totp().await?);
        if kind == Kind::PasswordAppAndCodes {
            // Enough for the check before, the one after, and a rerun of it.
            recovery_codes = app.generate_recovery_codes().await?;
        }
    }
    Ok(Account {
        id,
        identifiers: person.identifiers.clone(),
        person,
        authenticator,
        recovery_codes: Arc::new(Mutex::new(recovery_codes)),
    })
}

/// Self-service registration as a native app does it (one or two steps);
/// the new identity's id.
async fn register(kratos: &Arc<Kratos>, person: &Person, transcript: &Transcript) -> Result<String> {
    let client = Client::new(ClientKind::Native, Arc::clone(kratos), transcript.clone());
    let mut flow = client.start_and_load(FlowKind::Registration, &[]).await?;
    if !kratos.deployment.registration_one_step {
        let profile = client.submit_flow(&flow, json!({"method": "profile", "traits": person.traits})).await?;
        flow = crate::client::Flow::from_json(profile.json()?).map_err(|e| crate::check::failure(&profile, e))?;
    }
    let done = client.submit_flow(&flow, json!({"method": "password", "traits": person.traits, "password": person.password})).await?;
    crate::check::status(&done, 200)?;
    Ok(done.json()?.pointer("/identity/id").and_then(|v| v.as_str()).context("the registration answered no identity")?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tightened pattern is named with both versions; a changed title is
    /// not a change of what validates.
    #[test]
    fn a_trait_judged_differently_is_named_with_what_changed() {
        let schema = |pattern: &str, title: &str| {
            IdentitySchema::from_document(
                "member",
                "base64://x",
                None,
                json!({"type": "object", "properties": {"traits": {"type": "object", "properties": {
                    "username": {"type": "string", "title": title, "pattern": pattern}
                }}}}),
            )
        };
        let diff = SchemaDiff::between(&schema("^[a-z]+$", "Username"), Some(&schema("^nw-[a-z]+$", "Login")));
        assert_eq!(diff.constraints_changed, [("username".to_string(), "pattern changed (^[a-z]+$ → ^nw-[a-z]+$)".to_string())]);
        assert_eq!(diff.about("username").as_deref(), Some("username's pattern changed (^[a-z]+$ → ^nw-[a-z]+$)"));
        assert_eq!(diff.lines(), ["traits judged differently: username's pattern changed (^[a-z]+$ → ^nw-[a-z]+$)"]);
        assert!(SchemaDiff::between(&schema("^[a-z]+$", "Username"), Some(&schema("^[a-z]+$", "Login"))).lines().is_empty());
    }
}
