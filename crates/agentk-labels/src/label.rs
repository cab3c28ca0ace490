use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{LabelError, SafeText};

/// One taint label. The declaration order is the canonical order of every text form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Label {
    /// Came from the operator or the agent's own trusted configuration.
    Trusted,
    /// Came from somewhere the operator does not vouch for: web pages, tool output, mail.
    Untrusted,
    /// Came from, or is bound for, a system outside the agent's own process.
    External,
    /// Personal or business data that must not leave without a grant.
    Private,
    /// Secret material or anything derived from it.
    Secret,
    /// Content that looks like it tries to steer the agent (prompt injection, error payloads).
    PoisonedSuspect,
}

impl Label {
    /// Every label, in canonical order.
    pub const ALL: [Label; 6] =
        [Label::Trusted, Label::Untrusted, Label::External, Label::Private, Label::Secret, Label::PoisonedSuspect];

    /// The label's stable name, as written in policies and logs.
    pub const fn name(self) -> &'static str {
        match self {
            Label::Trusted => "trusted",
            Label::Untrusted => "untrusted",
            Label::External => "external",
            Label::Private => "private",
            Label::Secret => "secret",
            Label::PoisonedSuspect => "poisoned-suspect",
        }
    }

    /// The label's bit in a [`crate::LabelSet`].
    pub(crate) const fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Label {
    type Err = LabelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Label::ALL
            .into_iter()
            .find(|label| label.name() == s)
            .ok_or_else(|| LabelError::UnknownLabel { name: SafeText::new(s) })
    }
}

impl Serialize for Label {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Label {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}
