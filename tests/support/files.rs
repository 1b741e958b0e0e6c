//! The files of a folder tree, for the tests that read the repository itself.

use std::path::{Path, PathBuf};

/// Every file under `dir` (recursively) whose name ends in `.<extension>`, in
/// path order.
pub fn with_extension(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    walk(dir, extension, &mut found);
    found
}

fn walk(dir: &Path, extension: &str, into: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{} reads: {e}", dir.display())).flatten().map(|e| e.path()).collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            walk(&entry, extension, into);
        } else if entry.extension().is_some_and(|e| e == extension) {
            into.push(entry);
        }
    }
}
