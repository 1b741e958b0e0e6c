//! Finding the programs the suite runs beside Kratos (Chromium, nginx): the
//! one a variable names, or the first on the PATH.

use std::path::PathBuf;

/// The file `variable` names, when it is set: `Err` with the path when no
/// such file exists (the caller says what to do about it).
pub fn named_by(variable: &str) -> Option<Result<PathBuf, PathBuf>> {
    let path = PathBuf::from(std::env::var_os(variable).filter(|v| !v.is_empty())?);
    Some(if path.is_file() { Ok(path) } else { Err(path) })
}

/// The first of `names` (in that order of preference) in the PATH's folders,
/// then in `also` (folders a distribution keeps off a user's PATH).
pub fn on_path(names: &[&str], also: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path).chain(also.iter().map(PathBuf::from)).collect();
    names.iter().flat_map(|name| dirs.iter().map(move |dir| dir.join(name))).find(|candidate| candidate.is_file())
}
