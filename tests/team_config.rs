//! The conformance suite on a team's configuration: `examples/acme-customer/`
//! (another schema id, two password identifiers, required traits with
//! patterns and a const, other URLs, issuer and cookie names, verification on),
//! on the `process` backend, as a team would run it. Part of `cargo test`, so
//! that the suite keeps working on configurations other than its own.
//!
//! It always runs that fixture (a team verifies its own configuration with
//! `cargo test --test conformance`); the reports go to
//! `target/conformance-reports/team/`.


fn main() -> std::process::ExitCode {
    let root = env!("CARGO_MANIFEST_DIR");
    let defaults = [
        ("KRATOS_CONFIG_DIR", format!("{root}/examples/acme-customer")),
        ("KRATOS_BACKEND", "process".to_string()),
        ("KRATOS_REPORT_DIR", format!("{root}/target/conformance-reports/team")),
    ];
    for (name, value) in defaults {
        // SAFETY: no other thread runs yet.
        unsafe { std::env::set_var(name, value) };
    }
    // The suite's own run uses these for this repository's configuration.
    // SAFETY: no other thread runs yet.
    unsafe {
        std::env::remove_var("KRATOS_DOCS_BASELINE");
        std::env::remove_var("KRATOS_RECORD_DOCS");
    }
    kratos_conformance::runner::main()
}
