//! Secret providers and the shape of their references (documented on [`Provider`]).

use std::fmt;

use agentk_labels::SafeText;

/// A secret provider, and the shape of its references.
///
/// The rules, from each provider's public documentation, as enforced here. Every reference is
/// first held to a safe-text precheck: 1 to 2048 bytes, no leading or trailing whitespace, no
/// control characters, and ASCII only (so Unicode look-alikes such as a Cyrillic `а` or a
/// full-width `／` never pass for the real thing). Then:
///
/// | provider | accepted |
/// | --- | --- |
/// | `env` | a variable name: `[A-Za-z_][A-Za-z0-9_]*`, at most 128 |
/// | `aws-secrets-manager` | `arn:<partition>:secretsmanager:<region>:<12 digits>:secret:<name>` with partition `aws`, `aws-cn` or `aws-us-gov` and a region of lowercase dash-separated words ending in a digit (`us-east-1`); or a bare `<name>`. Names are 1 to 512 of `A-Z a-z 0-9 / _ + = . @ -` |
/// | `gcp-secret-manager` | `projects/<project>/secrets/<secret>` with an optional `/versions/<version>`. Project: an id (6 to 30 of lowercase letters, digits and `-`, starting with a letter, not ending with `-`) or a project number (1 to 20 digits). Secret: 1 to 255 of `A-Z a-z 0-9 _ -`. Version: `latest` or a number without leading zeros |
/// | `azure-key-vault` | `https://<vault>.vault.azure.net/secrets/<name>` with an optional `/<version>`, or `<vault>/<name>`. Vault: 3 to 24 of letters, digits and `-`, starting with a letter, ending with a letter or digit, no `--`. Name: 1 to 127 of letters, digits and `-`. Version: 32 lowercase hex digits |
/// | `vault` | `<segment>/<segment>[/…]` (2 to 32 segments) with an optional `#<field>`. Segments and field: 1 to 128 of `A-Z a-z 0-9 _ . -`, and never `.` or `..` |
/// | `onepassword` | `op://<vault>/<item>[/<section>]/<field>`. Each part: 1 to 128 of `A-Z a-z 0-9 _ . -` and spaces, without leading or trailing space; no query (`?attribute=…`) |
///
/// Any other provider id (1 to 64 of `a-z 0-9 . _ -`, starting with a letter or digit) is
/// accepted with the precheck alone, and is counted as not shape-checked.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Provider {
    /// Process environment variables.
    Env,
    /// AWS Secrets Manager.
    AwsSecretsManager,
    /// Google Cloud Secret Manager.
    GcpSecretManager,
    /// Azure Key Vault.
    AzureKeyVault,
    /// HashiCorp Vault.
    Vault,
    /// 1Password secret references.
    OnePassword,
    /// Another provider, by a validated id. Its references get the precheck only.
    Other(String),
}

/// Why a provider id or a reference was refused. No variant carries the refused value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShapeError {
    /// The provider id is not 1 to 64 of `a-z 0-9 . _ -` starting with a letter or digit.
    #[error("provider id is not 1 to 64 of `a-z`, `0-9`, `.`, `_` and `-`")]
    InvalidProviderId,
    /// The reference is empty.
    #[error("reference is empty")]
    Empty,
    /// The reference is longer than 2048 bytes.
    #[error("reference is longer than 2048 bytes")]
    TooLong,
    /// The reference has leading or trailing whitespace, or a control character.
    #[error("reference has surrounding whitespace or a control character")]
    UnsafeCharacter,
    /// The reference holds a non-ASCII character.
    #[error("reference holds a non-ASCII character")]
    NonAscii,
    /// The reference does not have the provider's shape.
    #[error("reference does not have the {provider} shape {expected}")]
    WrongShape {
        /// The provider's id.
        provider: &'static str,
        /// The expected shape, in words.
        expected: &'static str,
    },
}

const MAX_REFERENCE_BYTES: usize = 2048;

impl Provider {
    /// Every provider with a shape check.
    pub const CHECKED: [Provider; 6] = [
        Provider::Env,
        Provider::AwsSecretsManager,
        Provider::GcpSecretManager,
        Provider::AzureKeyVault,
        Provider::Vault,
        Provider::OnePassword,
    ];

    /// Parses a provider id.
    pub fn parse(id: &str) -> Result<Provider, ShapeError> {
        if let Some(known) = Self::CHECKED.into_iter().find(|p| p.id() == id) {
            return Ok(known);
        }
        let bytes = id.as_bytes();
        let ok = bytes.first().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && bytes.len() <= 64
            && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(b));
        if ok { Ok(Provider::Other(id.to_owned())) } else { Err(ShapeError::InvalidProviderId) }
    }

    /// The provider's id.
    pub fn id(&self) -> &str {
        match self {
            Provider::Other(id) => id,
            known => known.static_id(),
        }
    }

    /// Whether references get a provider-specific shape check.
    pub fn is_shape_checked(&self) -> bool {
        !matches!(self, Provider::Other(_))
    }

    /// Checks `reference` against this provider's shape. The error never holds the reference.
    pub fn check_reference(&self, reference: &str) -> Result<(), ShapeError> {
        precheck(reference)?;
        let (ok, expected) = match self {
            Provider::Env => (is_env_name(reference), "`NAME` (letters, digits and `_`, not starting with a digit)"),
            Provider::AwsSecretsManager => {
                (is_aws(reference), "`arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME` or `NAME`")
            }
            Provider::GcpSecretManager => (is_gcp(reference), "`projects/PROJECT/secrets/SECRET[/versions/VERSION]`"),
            Provider::AzureKeyVault => {
                (is_azure(reference), "`https://VAULT.vault.azure.net/secrets/NAME[/VERSION]` or `VAULT/NAME`")
            }
            Provider::Vault => (is_vault(reference), "`PATH/TO/SECRET[#FIELD]`"),
            Provider::OnePassword => (is_onepassword(reference), "`op://VAULT/ITEM[/SECTION]/FIELD`"),
            Provider::Other(_) => (true, ""),
        };
        if ok { Ok(()) } else { Err(ShapeError::WrongShape { provider: self.static_id(), expected }) }
    }

    /// The id of a known provider; `custom` for any other (for messages that must not echo a
    /// configured id).
    fn static_id(&self) -> &'static str {
        match self {
            Provider::Env => "env",
            Provider::AwsSecretsManager => "aws-secrets-manager",
            Provider::GcpSecretManager => "gcp-secret-manager",
            Provider::AzureKeyVault => "azure-key-vault",
            Provider::Vault => "vault",
            Provider::OnePassword => "onepassword",
            Provider::Other(_) => "custom",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", SafeText::new(self.id()))
    }
}

fn precheck(reference: &str) -> Result<(), ShapeError> {
    if reference.is_empty() {
        return Err(ShapeError::Empty);
    }
    if reference.len() > MAX_REFERENCE_BYTES {
        return Err(ShapeError::TooLong);
    }
    if !reference.is_ascii() {
        return Err(ShapeError::NonAscii);
    }
    let trimmed = reference.trim();
    if trimmed.len() != reference.len() || reference.chars().any(|c| c.is_control()) {
        return Err(ShapeError::UnsafeCharacter);
    }
    Ok(())
}

/// Whether every byte is alphanumeric or in `extra`, and the length is within `min..=max`.
fn chars_in(text: &str, min: usize, max: usize, extra: &[u8]) -> bool {
    (min..=max).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
}

fn is_env_name(text: &str) -> bool {
    text.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_') && chars_in(text, 1, 128, b"_")
}

fn is_aws_name(text: &str) -> bool {
    chars_in(text, 1, 512, b"/_+=.@-")
}

fn is_aws(text: &str) -> bool {
    let Some(rest) = text.strip_prefix("arn:") else {
        return is_aws_name(text);
    };
    let parts: Vec<&str> = rest.splitn(6, ':').collect();
    let [partition, service, region, account, kind, name] = parts.as_slice() else {
        return false;
    };
    ["aws", "aws-cn", "aws-us-gov"].contains(partition)
        && *service == "secretsmanager"
        && is_aws_region(region)
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && *kind == "secret"
        && !name.contains(':')
        && is_aws_name(name)
}

fn is_aws_region(text: &str) -> bool {
    let words: Vec<&str> = text.split('-').collect();
    words.len() >= 3
        && words.iter().all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
        && text.bytes().last().is_some_and(|b| b.is_ascii_digit())
}

fn is_gcp(text: &str) -> bool {
    let parts: Vec<&str> = text.split('/').collect();
    let (project, secret, version) = match parts.as_slice() {
        ["projects", project, "secrets", secret] => (project, secret, None),
        ["projects", project, "secrets", secret, "versions", version] => (project, secret, Some(version)),
        _ => return false,
    };
    let project_id = (6..=30).contains(&project.len())
        && project.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && !project.ends_with('-')
        && project.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let project_number = (1..=20).contains(&project.len()) && project.bytes().all(|b| b.is_ascii_digit());
    let version_ok = version.is_none_or(|v| {
        *v == "latest" || (!v.starts_with('0') && (1..=20).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_digit()))
    });
    (project_id || project_number) && chars_in(secret, 1, 255, b"_-") && version_ok
}

fn is_azure_vault(text: &str) -> bool {
    chars_in(text, 3, 24, b"-")
        && text.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && text.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
        && !text.contains("--")
}

fn is_azure(text: &str) -> bool {
    if let Some(rest) = text.strip_prefix("https://") {
        let parts: Vec<&str> = rest.split('/').collect();
        let (host, name, version) = match parts.as_slice() {
            [host, "secrets", name] => (host, name, None),
            [host, "secrets", name, version] => (host, name, Some(version)),
            _ => return false,
        };
        let Some(vault) = host.strip_suffix(".vault.azure.net") else {
            return false;
        };
        let version_ok = version
            .is_none_or(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        return is_azure_vault(vault) && chars_in(name, 1, 127, b"-") && version_ok;
    }
    match text.split('/').collect::<Vec<_>>().as_slice() {
        [vault, name] => is_azure_vault(vault) && chars_in(name, 1, 127, b"-"),
        _ => false,
    }
}

fn is_vault_part(text: &str) -> bool {
    chars_in(text, 1, 128, b"_.-") && text != "." && text != ".."
}

fn is_vault(text: &str) -> bool {
    let (path, field) = match text.split_once('#') {
        Some((path, field)) => (path, Some(field)),
        None => (text, None),
    };
    let segments: Vec<&str> = path.split('/').collect();
    (2..=32).contains(&segments.len()) && segments.iter().all(|s| is_vault_part(s)) && field.is_none_or(is_vault_part)
}

fn is_onepassword(text: &str) -> bool {
    let Some(rest) = text.strip_prefix("op://") else {
        return false;
    };
    let parts: Vec<&str> = rest.split('/').collect();
    (3..=4).contains(&parts.len())
        && parts.iter().all(|p| chars_in(p, 1, 128, b"_.- ") && !p.starts_with(' ') && !p.ends_with(' '))
}
