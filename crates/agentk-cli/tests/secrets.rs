//! S2, S6, S7 through the CLI: manifest checks report versions and counts, and a canary
//! planted in references never reaches stdout, stderr or JSON.
#![allow(clippy::unwrap_used, reason = "test helpers fail loudly on purpose")]

mod common;

use std::path::Path;

use agentk_cli::exit;
use common::{Run, TestHost, agentk, scratch};

const CANARY: &str = "CANARY7f3a9";

fn check(name: &str, run: &Run, dir: &Path, expected: u8) {
    let text = format!("exit: {}\n--- stdout\n{}--- stderr\n{}", run.code, run.stdout, run.stderr)
        .replace(&dir.display().to_string(), "$DIR");
    insta::assert_snapshot!(name, text);
    assert_eq!(run.code, expected, "{name}: {}", run.stderr);
    assert!(!run.stdout.contains(CANARY) && !run.stderr.contains(CANARY), "{name}: canary leaked");
}

fn manifest(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn good(canary_env: &str) -> String {
    format!(
        "version = 1\n\n[[secrets]]\ntarget = \"secret://deploy\"\nprovider = \"env\"\nreference = \"{canary_env}\"\n\n[[secrets]]\ntarget = \"secret://billing\"\nprovider = \"vault\"\nreference = \"kv/{CANARY}#token\"\n\n[[secrets]]\ntarget = \"secret://other\"\nprovider = \"env\"\nreference = \"AGENTK_TEST_UNSET\"\n"
    )
}

// guarantee: S7
#[test]
fn secret_refs_check_reports_version_and_counts_only() {
    let dir = scratch("secret-refs");
    let host = TestHost::new(&[]);
    let path = manifest(&dir, "refs.toml", &good(&format!("{CANARY}_ENV")));
    check("secret_refs_check", &agentk(&host, &["secret-refs-check", "--manifest", &path]), &dir, exit::OK);
    check(
        "secret_refs_check_json",
        &agentk(&host, &["secret-refs-check", "--manifest", &path, "--json"]),
        &dir,
        exit::OK,
    );

    let with_value = manifest(
        &dir,
        "value.toml",
        &good(&format!("{CANARY}_ENV")).replace("#token\"\n", &format!("#token\"\nvalue = \"{CANARY}\"\n")),
    );
    check(
        "secret_refs_check_value_field",
        &agentk(&host, &["secret-refs-check", "--manifest", &with_value]),
        &dir,
        exit::ERROR,
    );
    let bad_shapes = manifest(
        &dir,
        "shapes.toml",
        &format!(
            "version = 1\n[[secrets]]\ntarget = \"secret://a\"\nprovider = \"env\"\nreference = \"{CANARY}-x\"\n[[secrets]]\ntarget = \"secret://b\"\nprovider = \"gcp-secret-manager\"\nreference = \"projects/{CANARY}\"\n"
        ),
    );
    check(
        "secret_refs_check_bad_shapes",
        &agentk(&host, &["secret-refs-check", "--manifest", &bad_shapes]),
        &dir,
        exit::ERROR,
    );
    let json = agentk(&host, &["secret-refs-check", "--manifest", &bad_shapes, "--json"]);
    check("secret_refs_check_bad_shapes_json", &json, &dir, exit::ERROR);
}

// guarantee: S6, S3 (availability through the env store only)
#[test]
fn secret_refs_store_check_counts_availability() {
    let dir = scratch("secret-store");
    let env_name = format!("{CANARY}_ENV");
    let path = manifest(&dir, "refs.toml", &good(&env_name));
    let set = TestHost::new(&[("CANARY7f3a9_ENV", "dummy-value-not-a-secret")]);
    let run = agentk(&set, &["secret-refs-store-check", "--manifest", &path]);
    check("secret_refs_store_check_partial", &run, &dir, exit::VERIFY_FAILED);
    assert!(!run.stdout.contains("dummy-value"));
    let json = agentk(&set, &["secret-refs-store-check", "--manifest", &path, "--json"]);
    check("secret_refs_store_check_partial_json", &json, &dir, exit::VERIFY_FAILED);

    let env_only = manifest(
        &dir,
        "env-only.toml",
        &format!("version = 1\n[[secrets]]\ntarget = \"secret://a\"\nprovider = \"env\"\nreference = \"{env_name}\"\n"),
    );
    check(
        "secret_refs_store_check_all",
        &agentk(&set, &["secret-refs-store-check", "--manifest", &env_only]),
        &dir,
        exit::OK,
    );
    let empty = TestHost::new(&[("CANARY7f3a9_ENV", "")]);
    assert_eq!(
        agentk(&empty, &["secret-refs-store-check", "--manifest", &env_only]).code,
        exit::VERIFY_FAILED,
        "an empty value is not available"
    );
}
