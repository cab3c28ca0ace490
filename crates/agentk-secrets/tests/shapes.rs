//! S7 reference shapes, provider by provider: valid and invalid examples, including Unicode
//! look-alikes, whitespace, control characters, query strings and overlong values.
#![allow(clippy::unwrap_used, reason = "test helpers fail loudly on purpose")]

use agentk_secrets::{Provider, ShapeError};

fn check(provider: &str, reference: &str, ok: bool) {
    let provider = Provider::parse(provider).unwrap();
    let result = provider.check_reference(reference);
    assert_eq!(result.is_ok(), ok, "{} {reference:?}: {result:?}", provider.id());
}

#[test]
fn env_names() {
    for good in ["AGENTK_DEMO_REF", "_X", "path", "A1"] {
        check("env", good, true);
    }
    for bad in ["1ABC", "BAD-NAME", "A B", "A=B", "ÄPFEL", "A\u{0}", " A", "", &"A".repeat(129), "A?x=1"] {
        check("env", bad, false);
    }
}

#[test]
fn aws_secrets_manager() {
    for good in [
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:billing-a1b2c3",
        "arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:prod/db",
        "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:x",
        "prod/billing+key=1.@x",
    ] {
        check("aws-secrets-manager", good, true);
    }
    for bad in [
        "arn:aws:secretsmanager:us-east-1:12345678901:secret:x",
        "arn:aws:secretsmanager:US-EAST-1:123456789012:secret:x",
        "arn:aws:secretsmanager:useast1:123456789012:secret:x",
        "arn:aws:s3:us-east-1:123456789012:secret:x",
        "arn:aws:secretsmanager:us-east-1:123456789012:parameter:x",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:a:b",
        "arn:evil:secretsmanager:us-east-1:123456789012:secret:x",
        "name?versionId=1",
        "name&x",
        "na me",
        "nаme", // Cyrillic а
        &"n".repeat(513),
    ] {
        check("aws-secrets-manager", bad, false);
    }
}

#[test]
fn gcp_secret_manager() {
    for good in [
        "projects/my-project-1/secrets/db_password",
        "projects/my-project-1/secrets/db-password/versions/latest",
        "projects/123456789/secrets/x/versions/42",
    ] {
        check("gcp-secret-manager", good, true);
    }
    for bad in [
        "projects/My-Project/secrets/x",
        "projects/short/secrets/x",
        "projects/my-project-/secrets/x",
        "projects/my-project-1/secrets/x/versions/01",
        "projects/my-project-1/secrets/x/versions/",
        "projects/my-project-1/secrets/",
        "projects/my-project-1/secret/x",
        "projects/my-project-1/secrets/x/versions/latest/extra",
        "projects/my-project-1/secrets/x.y",
        "/projects/my-project-1/secrets/x",
    ] {
        check("gcp-secret-manager", bad, false);
    }
}

#[test]
fn azure_key_vault() {
    for good in [
        "https://my-vault.vault.azure.net/secrets/db-password",
        "https://myvault.vault.azure.net/secrets/x/0123456789abcdef0123456789abcdef",
        "my-vault/db-password",
    ] {
        check("azure-key-vault", good, true);
    }
    for bad in [
        "http://my-vault.vault.azure.net/secrets/x",
        "https://my-vault.vault.azure.net.evil.example.invalid/secrets/x",
        "https://my--vault.vault.azure.net/secrets/x",
        "https://1vault.vault.azure.net/secrets/x",
        "https://ab.vault.azure.net/secrets/x",
        "https://my-vault.vault.azure.net/keys/x",
        "https://my-vault.vault.azure.net/secrets/x/0123456789ABCDEF0123456789ABCDEF",
        "https://my-vault.vault.azure.net/secrets/x?api-version=7.4",
        "my-vault/db_password",
        "my-vault/",
        "my-vault",
    ] {
        check("azure-key-vault", bad, false);
    }
}

#[test]
fn hashicorp_vault() {
    for good in ["secret/data/billing", "kv/prod/db#password", "a/b"] {
        check("vault", good, true);
    }
    for bad in [
        "billing",
        "secret/../admin",
        "secret/./x",
        "secret//x",
        "secret/x#",
        "secret/x#a#b",
        "secret/x?version=2",
        "/secret/x",
        "secret/x y",
    ] {
        check("vault", bad, false);
    }
}

#[test]
fn onepassword() {
    for good in ["op://Private/Billing API/credential", "op://vault/item/section/field", "op://v/i/f"] {
        check("onepassword", good, true);
    }
    for bad in [
        "op://vault/item",
        "op://vault/item/section/field/extra",
        "op://vault/item/field?attribute=otp",
        "op://vault/ item/field",
        "op://vault//field",
        "vault/item/field",
        "op://vault/item/fіeld", // Cyrillic і
    ] {
        check("onepassword", bad, false);
    }
}

#[test]
fn custom_providers_get_the_precheck_only() {
    check("acme-secrets.v2", "anything/at all:with?chars", true);
    for bad in [" leading", "trailing ", "tab\there", "new\nline", "ｆｕｌｌ", ""] {
        check("acme-secrets.v2", bad, false);
    }
    assert_eq!(Provider::parse("Acme"), Err(ShapeError::InvalidProviderId));
    assert_eq!(Provider::parse(""), Err(ShapeError::InvalidProviderId));
    assert_eq!(Provider::parse("-x"), Err(ShapeError::InvalidProviderId));
    assert!(!Provider::parse("acme").unwrap().is_shape_checked());
}

#[test]
fn overlong_references_are_refused_for_every_provider() {
    for provider in Provider::CHECKED {
        assert_eq!(provider.check_reference(&"a".repeat(2049)), Err(ShapeError::TooLong));
    }
}
