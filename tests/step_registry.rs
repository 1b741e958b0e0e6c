//! The library's steps as a crate that depends on it sees them.
//!
//! cucumber collects step definitions with `inventory`, whose registrations
//! live in the library's object files: a linker that dropped the files no code
//! refers to would leave a team's test target without our steps, and every
//! scenario would fail as "step doesn't match any function". This test is such
//! a crate (an integration test links the library as any dependent does) and
//! names nothing of `steps`: it finds every `#[given]`, `#[when]` and `#[then]`
//! of `src/steps/` in the registry, and nothing else there.
//!
//! It also keeps `docs/steps.md`, the step vocabulary, in step with the code:
//! the page is rendered from the registry, the attributes' source and the first
//! use of each step in `features/`. `KRATOS_RECORD_STEPS=1 cargo test --test
//! step_registry` writes it anew.

#[path = "support/files.rs"]
mod files;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cucumber::codegen::{StepConstructor as _, WorldInventory, inventory};
use kratos_conformance::ConformanceWorld;
use regex::Regex;

type Given = <ConformanceWorld as WorldInventory>::Given;
type When = <ConformanceWorld as WorldInventory>::When;
type Then = <ConformanceWorld as WorldInventory>::Then;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One registered step: where its attribute is, its keyword and its regex.
#[derive(Debug, Clone)]
struct Registered {
    path: String,
    line: u32,
    keyword: &'static str,
    regex: Regex,
}

fn registry() -> Vec<Registered> {
    let mut all = Vec::new();
    let mut add = |keyword, (location, regex, _): (cucumber::step::Location, fn() -> Regex, _)| {
        all.push(Registered { path: location.path.to_string(), line: location.line, keyword, regex: regex() });
    };
    for step in inventory::iter::<Given> {
        add("Given", step.inner());
    }
    for step in inventory::iter::<When> {
        add("When", step.inner());
    }
    for step in inventory::iter::<Then> {
        add("Then", step.inner());
    }
    all.sort_by(|a, b| (&a.path, a.line).cmp(&(&b.path, b.line)));
    all
}

/// One step attribute as the source has it, with the function it is on.
#[derive(Debug, Clone)]
struct Attribute {
    path: String,
    line: u32,
    keyword: &'static str,
    /// `expr = "…"`, `regex = r"…"` or a literal: what the author wrote.
    kind: &'static str,
    phrase: String,
    /// The function's parameters after the World, as `name: Type`.
    parameters: Vec<String>,
    /// The function's doc comment or the comment above its attributes.
    comment: String,
}

fn attributes() -> Vec<Attribute> {
    let attribute = Regex::new(r##"^#\[(given|when|then)\((?:(expr|regex) = )?(?:r#"(.*)"#|r?"(.*)")\)\]$"##).unwrap();
    let mut all = Vec::new();
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(root().join("src/steps")).unwrap().flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "rs")).collect();
    files.sort();
    for file in files {
        let source = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = source.lines().collect();
        let relative = format!("src/steps/{}", file.file_name().unwrap().to_string_lossy());
        for (i, line) in lines.iter().enumerate() {
            if !line.starts_with("#[given") && !line.starts_with("#[when") && !line.starts_with("#[then") {
                continue;
            }
            let caps = attribute.captures(line).unwrap_or_else(|| panic!("{relative}:{}: a step attribute this test cannot read: {line}", i + 1));
            let keyword = match &caps[1] {
                "given" => "Given",
                "when" => "When",
                _ => "Then",
            };
            let kind = match caps.get(2).map(|m| m.as_str()) {
                Some("expr") => "expression",
                Some("regex") => "regex",
                _ => "literal",
            };
            all.push(Attribute {
                path: relative.clone(),
                line: i as u32 + 1,
                keyword,
                kind,
                phrase: caps.get(3).or(caps.get(4)).unwrap().as_str().replace("\\\"", "\""),
                parameters: parameters(&lines[i + 1..]),
                comment: comment_above(&lines[..i]),
            });
        }
    }
    all
}

/// The parameters of the function below the attributes, the World left out.
fn parameters(below: &[&str]) -> Vec<String> {
    let start = below.iter().position(|l| l.contains("fn ")).expect("a step attribute is on a function");
    let mut signature = String::new();
    for line in &below[start..] {
        signature.push_str(line.trim());
        signature.push(' ');
        if line.contains('{') || line.contains("->") {
            break;
        }
    }
    let open = signature.find('(').unwrap();
    let mut depth = 0;
    let mut close = open;
    for (i, c) in signature[open..].char_indices() {
        match c {
            '(' | '<' => depth += 1,
            ')' | '>' if !signature[open + i - 1..].starts_with("->") => {
                depth -= 1;
                if depth == 0 {
                    close = open + i;
                    break;
                }
            }
            _ => {}
        }
    }
    let inside = &signature[open + 1..close];
    let mut params = Vec::new();
    let mut depth = 0;
    let mut current = String::new();
    for c in inside.chars() {
        match c {
            '<' | '(' => depth += 1,
            '>' | ')' => depth -= 1,
            ',' if depth == 0 => {
                params.push(current.trim().to_string());
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if !current.trim().is_empty() {
        params.push(current.trim().to_string());
    }
    params.into_iter().filter(|p| !p.contains("ConformanceWorld") && !p.contains("Step")).collect()
}

/// The `//` or `///` lines right above the step's attributes, joined.
fn comment_above(above: &[&str]) -> String {
    let mut lines: Vec<&str> = Vec::new();
    for line in above.iter().rev() {
        if line.starts_with("#[") {
            if lines.is_empty() {
                continue;
            }
            break;
        }
        let Some(text) = line.strip_prefix("///").or_else(|| line.strip_prefix("//")) else { break };
        lines.push(text.trim());
    }
    lines.reverse();
    lines.join(" ")
}

/// Every step of `features/`, outlines expanded with their examples, as
/// `(file:line, its text)`; the line is the step's (for an outline, its row's).
fn feature_steps() -> Vec<(String, String)> {
    use cucumber::feature::Ext as _;
    use cucumber::gherkin::{Feature, GherkinEnv};
    let files = files::with_extension(&root().join("features"), "feature");
    let mut steps = Vec::new();
    for file in files {
        let relative = file.strip_prefix(root()).unwrap().display().to_string();
        let feature = Feature::parse_path(&file, GherkinEnv::default()).unwrap().expand_examples().unwrap();
        let backgrounds = feature.background.iter().chain(feature.rules.iter().filter_map(|r| r.background.as_ref()));
        let scenarios = feature.scenarios.iter().chain(feature.rules.iter().flat_map(|r| r.scenarios.iter()));
        for step in backgrounds.flat_map(|b| b.steps.iter()).chain(scenarios.flat_map(|s| s.steps.iter())) {
            steps.push((format!("{relative}:{}", step.position.line), step.value.clone()));
        }
    }
    steps
}

#[test]
fn every_step_of_the_library_is_registered_in_a_crate_that_depends_on_it() {
    let registered: BTreeMap<(String, u32), &'static str> = registry().into_iter().map(|r| ((r.path, r.line), r.keyword)).collect();
    let written: BTreeMap<(String, u32), &'static str> = attributes().into_iter().map(|a| ((a.path, a.line), a.keyword)).collect();
    assert!(written.len() > 200, "only {} step attributes found in src/steps: is this test reading the right folder?", written.len());
    let missing: Vec<String> = written.iter().filter(|(k, _)| !registered.contains_key(*k)).map(|((p, l), kw)| format!("{kw} at {p}:{l}")).collect();
    let unknown: Vec<String> = registered.iter().filter(|(k, _)| !written.contains_key(*k)).map(|((p, l), kw)| format!("{kw} at {p}:{l}")).collect();
    assert!(missing.is_empty(), "steps written but not registered in a dependent crate: {missing:?}");
    assert!(unknown.is_empty(), "steps registered that this test did not find in src/steps: {unknown:?}");
    for ((path, line), keyword) in &written {
        assert_eq!(registered[&(path.clone(), *line)], *keyword, "{path}:{line} is registered under another keyword");
    }
}

/// The vocabulary page, rendered from what the registry and the sources say.
fn render_vocabulary() -> String {
    let registered = registry();
    let regex_at: BTreeMap<(String, u32), Regex> = registered.into_iter().map(|r| ((r.path, r.line), r.regex)).collect();
    let uses = feature_steps();
    let mut page = String::from(
        "# The step vocabulary\n\n\
         Every step the library defines, by domain (the module of `src/steps/` it is in), with the words it matches,\n\
         what it takes, and its first use in `features/`. A team's own `.feature` files can use any of them, beside\n\
         steps of their own on the same `ConformanceWorld` (see the README, \"Your own scenarios\").\n\n\
         Phrases are [Cucumber Expressions](https://github.com/cucumber/cucumber-expressions) (`{int}`, `{string}`\n\
         in double quotes, `{word}`, `{client}`: `browser`, `SPA` or `native`; `(s)` optional text, `a/b` either),\n\
         regular expressions (marked *regex*), or plain text. A step matches `Given`, `When`, `Then`, `And` and `But`\n\
         alike in cucumber-rs when its phrase is unique; the keyword below is the one it is registered under.\n\n\
         Generated by `tests/step_registry.rs` from the code; `KRATOS_RECORD_STEPS=1 cargo test --test step_registry`\n\
         rewrites it, and the test fails when it is out of date.\n",
    );
    let mut current_file = String::new();
    for attribute in attributes() {
        if attribute.path != current_file {
            current_file = attribute.path.clone();
            let module_doc: String = std::fs::read_to_string(root().join(&current_file))
                .unwrap()
                .lines()
                .take_while(|l| l.starts_with("//!"))
                .map(|l| l.trim_start_matches("//!").trim())
                .collect::<Vec<_>>()
                .join(" ");
            let name = Path::new(&current_file).file_stem().unwrap().to_string_lossy().to_string();
            page.push_str(&format!("\n## {name}\n\n{module_doc} (`{current_file}`)\n"));
        }
        let regex = &regex_at[&(attribute.path.clone(), attribute.line)];
        let phrase = match attribute.kind {
            "regex" => format!("*regex* `{}`", attribute.phrase),
            _ => format!("`{}`", attribute.phrase),
        };
        page.push_str(&format!("\n- **{}** {phrase}", attribute.keyword));
        if !attribute.parameters.is_empty() {
            let params: Vec<String> = attribute.parameters.iter().map(|p| format!("`{p}`")).collect();
            page.push_str(&format!("\\\n  takes {}", params.join(", ")));
        }
        if !attribute.comment.is_empty() {
            page.push_str(&format!("\\\n  {}", attribute.comment));
        }
        match uses.iter().find(|(_, text)| regex.is_match(text)) {
            Some((at, text)) => page.push_str(&format!("\\\n  e.g. `{text}` ({at})")),
            None => page.push_str("\\\n  not used by the built-in features"),
        }
        page.push('\n');
    }
    page
}

#[test]
fn the_step_vocabulary_page_is_the_code_s() {
    let page = render_vocabulary();
    let file = root().join("docs/steps.md");
    if std::env::var_os("KRATOS_RECORD_STEPS").is_some() {
        std::fs::write(&file, &page).unwrap();
        return;
    }
    let on_disk = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        on_disk == page,
        "docs/steps.md is not what the steps say; write it anew with KRATOS_RECORD_STEPS=1 cargo test --test step_registry and commit it"
    );
}
