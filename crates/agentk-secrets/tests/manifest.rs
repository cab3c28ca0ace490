//! S7 manifests, and S2 in every output: a canary planted in provider references never
//! appears in any Debug, Display, error or serialized output.
#![allow(clippy::unwrap_used, clippy::panic, reason = "test helpers fail loudly on purpose")]

use agentk_secrets::{
    EnvPresence, EnvStore, ExternalRef, ManifestProblem, Mode, RedactionKey, SecretBroker, SecretManifest,
    StoreRegistry,
};
use proptest::prelude::*;

const CANARY: &str = "CANARY7f3a9";

fn key() -> RedactionKey {
    RedactionKey::from_bytes([9; 32])
}

fn render(problems: &[ManifestProblem]) -> String {
    problems.iter().map(|p| format!("{p}\n")).collect()
}

fn check_invalid(name: &str, text: &str) -> String {
    let problems = SecretManifest::parse(text, &key()).unwrap_err();
    let rendered = render(&problems);
    insta::assert_snapshot!(name, rendered);
    rendered
}

const GOOD: &str = r#"version = 1

[[secrets]]
target = "secret://billing-api"
provider = "aws-secrets-manager"
reference = "arn:aws:secretsmanager:us-east-1:123456789012:secret:billing"

[[secrets]]
target = "secret://deploy"
provider = "env"
reference = "AGENTK_DEMO_DEPLOY"

[[secrets]]
target = "secret://ci"
provider = "acme-vault"
reference = "anything goes here"
"#;

// guarantee: S7
#[test]
fn a_valid_manifest_reports_version_and_counts() {
    let manifest = SecretManifest::parse(GOOD, &key()).unwrap();
    let counts = manifest.counts();
    assert_eq!((counts.version, counts.secrets, counts.providers, counts.shape_checked), (1, 3, 3, 2));
}

// guarantee: S7
#[test]
fn value_fields_are_refused_not_ignored() {
    let text = GOOD
        .replace("reference = \"AGENTK_DEMO_DEPLOY\"", "reference = \"AGENTK_DEMO_DEPLOY\"\nvalue = \"hunter2-dummy\"");
    let rendered = check_invalid("value_field", &text);
    assert!(!rendered.contains("hunter2"));
}

#[test]
fn manifest_errors() {
    check_invalid(
        "wrong_version",
        "version = 2\n[[secrets]]\ntarget = \"secret://a\"\nprovider = \"env\"\nreference = \"A\"\n",
    );
    check_invalid("no_secrets", "version = 1\n");
    check_invalid(
        "every_entry_problem",
        &format!(
            "version = 1\n[[secrets]]\ntarget = \"https://x\"\nprovider = \"env\"\nreference = \"OK\"\n[[secrets]]\ntarget = \"secret://a\"\nprovider = \"Bad Provider\"\nreference = \"{CANARY}\"\n[[secrets]]\ntarget = \"secret://a\"\nprovider = \"gcp-secret-manager\"\nreference = \"projects/x/{CANARY}\"\n[[secrets]]\ntarget = \"secret://b\"\nprovider = \"env\"\nreference = \"{CANARY}-x\"\n[[secrets]]\ntarget = \"secret://b\"\nprovider = \"vault\"\nreference = \"kv/a\"\n"
        ),
    );
    check_invalid("syntax", &format!("version = 1\n[[secrets]]\ntarget = \"secret://a\"\nreference = \"{CANARY}\n"));
    check_invalid(
        "wrong_type",
        &format!("version = 1\n[[secrets]]\ntarget = \"secret://a\"\nprovider = \"env\"\nreference = [\"{CANARY}\"]\n"),
    );
    check_invalid("too_large", &"#".repeat(2 << 20));
}

/// Review finding: a manifest of thousands of bad entries is answered with a bounded list (and
/// in linear time: positions come from a line index, not a rescan per entry).
#[test]
fn many_problems_are_listed_up_to_a_cap() {
    let mut text = String::from("version = 1\n");
    for i in 0..5000 {
        text += &format!("[[secrets]]\ntarget = \"secret://s{i}\"\nprovider = \"env\"\nreference = \"BAD-{i}\"\n");
    }
    let problems = SecretManifest::parse(&text, &key()).unwrap_err();
    assert_eq!(problems.len(), 101);
    assert_eq!(problems.last().unwrap().to_string(), "4900 more problem(s) not shown");
}

/// Every way a reference or manifest can be shown: it must never show the canary.
fn assert_no_canary(outputs: &[String]) {
    for output in outputs {
        assert!(
            !output.contains(CANARY) && !output.to_lowercase().contains(&CANARY.to_lowercase()),
            "canary leaked: {output}"
        );
    }
}

struct AllSet;

impl EnvPresence for AllSet {
    fn is_set_nonempty(&self, _: &str) -> bool {
        true
    }
}

// guarantee: S2
#[test]
fn canary_never_appears_in_any_output() {
    let text = format!(
        "version = 1\n[[secrets]]\ntarget = \"secret://a\"\nprovider = \"vault\"\nreference = \"kv/{CANARY}#field\"\n[[secrets]]\ntarget = \"secret://b\"\nprovider = \"env\"\nreference = \"{CANARY}\"\n[[secrets]]\ntarget = \"secret://c\"\nprovider = \"onepassword\"\nreference = \"op://v/{CANARY}/f\"\n"
    );
    let manifest = SecretManifest::parse(&text, &key()).unwrap();
    let mut outputs = vec![format!("{manifest:?}"), serde_json::to_string(&manifest.counts()).unwrap()];
    let mut stores = StoreRegistry::new();
    stores.add(Box::new(EnvStore::new(AllSet))).unwrap();
    outputs.push(serde_json::to_string(&manifest.availability(&stores)).unwrap());
    outputs.push(format!("{stores:?}"));
    let mut broker = SecretBroker::new(stores, Mode::Strict);
    for (target, reference) in manifest.into_entries() {
        outputs.push(format!("{reference:?} {reference} {} {:?}", reference.provider_id(), reference.reference_id()));
        broker.register_external(target, reference).unwrap();
    }
    outputs.push(format!("{broker:?}"));
    // Error paths fed the canary.
    for (provider, reference) in [
        ("env", format!("{CANARY}-bad")),
        ("vault", CANARY.to_owned()),
        ("gcp-secret-manager", CANARY.to_owned()),
        (CANARY, "x".to_owned()),
    ] {
        let err = ExternalRef::new(provider, &reference, &key()).unwrap_err();
        outputs.push(format!("{err} {err:?}"));
    }
    for bad in [
        format!(
            "version = 1\n[[secrets]]\ntarget = \"secret://a\"\nprovider = \"env\"\nreference = \"{CANARY}\"\nvalue = \"{CANARY}\"\n"
        ),
        format!("version = 1\n[[secrets]]\ntarget = \"secret://a\"\nprovider = \"env\"\nreference = \"{CANARY}\n"),
        format!("version = 1\n[[secrets]]\ntarget = \"{CANARY}\"\nprovider = \"env\"\nreference = \"{CANARY}\"\n"),
        format!("version = \"{CANARY}\"\n"),
        format!(
            "version = 1\n[[secrets]]\ntarget = \"secret://a\"\nprovider = \"env\"\nreference = {{ x = \"{CANARY}\" }}\n"
        ),
    ] {
        let problems = SecretManifest::parse(&bad, &key()).unwrap_err();
        outputs.push(format!("{} {problems:?}", render(&problems)));
    }
    assert_no_canary(&outputs);
}

#[test]
fn redacted_ids_are_keyed() {
    let a = ExternalRef::new("env", "SAME_NAME", &RedactionKey::from_bytes([1; 32])).unwrap();
    let b = ExternalRef::new("env", "SAME_NAME", &RedactionKey::from_bytes([2; 32])).unwrap();
    assert_ne!(a.reference_id(), b.reference_id(), "without the key the id cannot be recomputed");
    let c = ExternalRef::new("env", "SAME_NAME", &RedactionKey::from_bytes([1; 32])).unwrap();
    assert_eq!(a.reference_id(), c.reference_id(), "with it, the same reference gives the same id");
    assert!(format!("{:?}", RedactionKey::from_bytes([1; 32])).contains("redacted"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    // guarantee: S2
    #[test]
    fn no_generated_reference_appears_in_any_output(name in "[A-Z][A-Z0-9_]{11,40}", path in "[a-z]{12,30}") {
        let env = ExternalRef::new("env", &name, &key()).unwrap();
        let vault_ref = format!("kv/{path}");
        let vault = ExternalRef::new("vault", &vault_ref, &key()).unwrap();
        let bad = ExternalRef::new("gcp-secret-manager", &name, &key()).unwrap_err();
        let text = format!("version = 1\n[[secrets]]\ntarget = \"secret://x\"\nprovider = \"env\"\nreference = \"{name}\"\nvalue = \"{path}\"\n");
        let problems = render(&SecretManifest::parse(&text, &key()).unwrap_err());
        for output in [format!("{env:?} {env}"), format!("{vault:?} {vault}"), format!("{bad} {bad:?}"), problems] {
            prop_assert!(!output.contains(&name) && !output.contains(&path), "{}", output);
        }
    }
}
