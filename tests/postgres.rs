//! The conformance suite on PostgreSQL: this repository's configuration, the
//! `process` backend, `KRATOS_DATABASE=postgres` (a private PostgreSQL of the
//! run's, one database per instance, requests at the same moment). Part of
//! `cargo test`, so that CI runs the suite on SQLite and on PostgreSQL, and the
//! `@concurrency` scenarios, which need the latter, run every time.


fn main() -> std::process::ExitCode {
    let root = env!("CARGO_MANIFEST_DIR");
    for (name, value) in [
        ("KRATOS_DATABASE", "postgres".to_string()),
        ("KRATOS_BACKEND", "process".to_string()),
        ("KRATOS_CONFIG_DIR", format!("{root}/kratos-config")),
        ("KRATOS_REPORT_DIR", format!("{root}/target/conformance-reports/postgres")),
    ] {
        // SAFETY: no other thread runs yet.
        unsafe { std::env::set_var(name, value) };
    }
    kratos_conformance::runner::main()
}
