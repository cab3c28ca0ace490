//! Secret stores (S4, S5, S6): adapters that say whether a secret is there, and nothing more.

use std::fmt;

use serde::Serialize;

use crate::SecretsError;
use crate::provider::Provider;
use crate::reference::ExternalRef;

/// What a store says about a reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Availability {
    /// The store can serve it.
    Available,
    /// The store supports the provider but does not have it.
    Missing,
    /// No configured store supports the provider.
    Unsupported,
}

/// A store adapter. Its only question is availability: there is no method that returns secret
/// bytes, so no adapter can leak them through this interface (S5).
pub trait SecretStore {
    /// A short name for reports.
    fn name(&self) -> &'static str;

    /// The providers this store answers for. The registry asks it about these only.
    fn providers(&self) -> Vec<Provider>;

    /// Whether the store can serve `reference`. Only called for a declared provider.
    fn availability(&self, reference: &ExternalRef) -> Availability;
}

/// Several stores, each answering only for the providers it declares (S4). Two stores may not
/// declare the same provider: routing is never ambiguous.
#[derive(Default)]
pub struct StoreRegistry {
    stores: Vec<Box<dyn SecretStore + Send + Sync>>,
}

impl StoreRegistry {
    /// An empty registry: every reference is unsupported.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a store. Refused when it declares a provider another store already answers for.
    /// Stores are `Send + Sync` so that one broker can serve many sessions.
    pub fn add(&mut self, store: Box<dyn SecretStore + Send + Sync>) -> Result<(), SecretsError> {
        for provider in store.providers() {
            if let Some(existing) = self.store_for(&provider) {
                return Err(SecretsError::OverlappingStores { existing: existing.name(), added: store.name() });
            }
        }
        self.stores.push(store);
        Ok(())
    }

    fn store_for(&self, provider: &Provider) -> Option<&(dyn SecretStore + Send + Sync)> {
        self.stores.iter().find(|store| store.providers().contains(provider)).map(|store| &**store)
    }

    /// Asks the one store that supports the reference's provider; `Unsupported` when none does.
    pub fn availability(&self, reference: &ExternalRef) -> Availability {
        match self.store_for(reference.provider()) {
            Some(store) => store.availability(reference),
            None => Availability::Unsupported,
        }
    }

    /// How many stores are configured.
    pub fn len(&self) -> usize {
        self.stores.len()
    }

    /// Whether no store is configured.
    pub fn is_empty(&self) -> bool {
        self.stores.is_empty()
    }
}

impl fmt::Debug for StoreRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.stores.iter().map(|s| s.name()).collect();
        f.debug_struct("StoreRegistry").field("stores", &names).finish()
    }
}

/// Whether an environment variable is set to a non-empty value. Implementations answer the
/// question and drop the value at once; nothing else of the environment is exposed (S6).
pub trait EnvPresence {
    /// Whether `name` is set and non-empty.
    fn is_set_nonempty(&self, name: &str) -> bool;
}

/// The `env` store: a reference is the name of an environment variable, available when it is
/// set and non-empty. Names are checked before the environment is asked.
pub struct EnvStore<E> {
    env: E,
}

impl<E: EnvPresence> EnvStore<E> {
    /// A store over `env`.
    pub fn new(env: E) -> Self {
        EnvStore { env }
    }
}

impl<E: EnvPresence> SecretStore for EnvStore<E> {
    fn name(&self) -> &'static str {
        "env"
    }

    fn providers(&self) -> Vec<Provider> {
        vec![Provider::Env]
    }

    fn availability(&self, reference: &ExternalRef) -> Availability {
        // SECURITY: the name was shape-checked when the reference was built, and is checked
        // again here so an adapter never asks the environment about an unsafe name.
        let name = reference.expose_reference();
        if *reference.provider() != Provider::Env || Provider::Env.check_reference(name).is_err() {
            return Availability::Unsupported;
        }
        if self.env.is_set_nonempty(name) { Availability::Available } else { Availability::Missing }
    }
}
