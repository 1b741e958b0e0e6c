//! The library's folders import one way: each only from the layers below it
//! (issue 19, item 8). Read from the source, so that a new `crate::` path
//! that goes up fails here, naming the file and the import, before it ties the
//! layers into a circle again.

#[path = "support/files.rs"]
mod files;

use std::collections::BTreeMap;
use std::path::Path;

/// Bottom first. A module may use its own folder and any folder of a lower layer.
const LAYERS: &[&[&str]] = &[
    // Nothing of the suite: errors, redaction, random strings, the network, programs, the ledger.
    &["error", "redact", "random", "net", "programs", "deviations"],
    // The deployment under test, described from its configuration.
    &["deployment"],
    // The Kratos launcher.
    &["kratos"],
    &["totp"],
    &["client"],
    &["identity", "check"],
    &["report", "preflight", "schema_change"],
    &["browser"],
    &["world", "ConformanceWorld"],
    &["steps"],
    &["runner"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// Every `crate::<module>` a source file names outside comments.
fn imports(source: &str) -> Vec<String> {
    let code: String = source.lines().map(|line| line.split("//").next().unwrap_or_default()).collect::<Vec<_>>().join("\n");
    let pattern = regex::Regex::new(r"crate::(\w+)").expect("valid");
    pattern.captures_iter(&code).map(|c| c[1].to_string()).collect()
}

#[test]
fn every_folder_imports_only_from_the_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = files::with_extension(&src, "rs");
    let mut upward: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut unplaced = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).expect("under src").to_string_lossy().to_string();
        let module = relative.split('/').next().unwrap_or_default().trim_end_matches(".rs").to_string();
        if module == "lib" || module == "bin" {
            continue;
        }
        let Some(own) = layer_of(&module) else {
            unplaced.push(module);
            continue;
        };
        let source = std::fs::read_to_string(file).expect("a source file reads");
        for imported in imports(&source) {
            if imported == module {
                continue;
            }
            match layer_of(&imported) {
                Some(theirs) if theirs < own => {}
                Some(_) => upward.entry(format!("{module} -> {imported}")).or_default().push(relative.clone()),
                None => unplaced.push(imported),
            }
        }
    }
    unplaced.sort();
    unplaced.dedup();
    assert!(unplaced.is_empty(), "modules in no layer of tests/layers.rs (place them): {unplaced:?}");
    let listed: Vec<String> = upward.iter().map(|(edge, files)| format!("{edge} ({})", files.join(", "))).collect();
    assert!(listed.is_empty(), "imports that go up a layer or sideways:\n{}", listed.join("\n"));
}
