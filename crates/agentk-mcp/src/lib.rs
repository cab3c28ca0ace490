//! The MCP mediator: AgentK standing between an agent's MCP client and the MCP servers it calls.
//! Every message in both directions becomes kernel syscalls, decided and recorded before
//! anything is forwarded; the transports (the stdio proxy, the HTTP gateway) are thin shells
//! over one sans-IO session state machine, in the style of rustls.
//!
//! # Invariants
//!
//! - **M1** A `tools/call` is decided as a `tool.invoke` before anything is forwarded; a denied
//!   call never reaches the server.
//! - **M2** Tool descriptors are recorded as hashes, never as text; a descriptor that tries to
//!   steer the agent is labelled `poisoned-suspect` and withheld ([`scan`]); descriptors are
//!   pinned, and one that changes is withheld until the operator accepts it ([`pins`]).
//! - **M3** Answers are recorded as keyed digests, linked to their request, labelled
//!   `untrusted` + `external`, and `poisoned-suspect` when they are errors.
//! - **M4** The decision server ([`server`]) holds a policy and nothing else: it cannot record,
//!   sign, spend or execute.
//! - **M5** (the mediator's half) Nothing but the handshake before `notifications/initialized`;
//!   a method with no policy is denied and recorded; `agentk/` `_meta` keys are stripped both
//!   ways; labels from the client are only added, grants never come from it.
//! - **M6** (feature `gateway`) The Streamable HTTP gateway checks every request at the door
//!   before any session sees it: `Origin` (and, on loopback, `Host`) loopback or allowed,
//!   bearer tokens compared in constant time and never echoed, bodies, sessions, requests in
//!   flight and streams bounded; it issues its own session ids (an unknown one is 404) and
//!   refuses 2026-07-28 routing headers that disagree with the body; behind the door each
//!   session is the stdio proxy's loop over the same session (`gateway`, `upstream`).
//! - Both protocol eras in one mediator ([`session::VERSIONS`]): the handshake era, and the
//!   2026-07-28 era, whose requests carry their version in `_meta` and need no handshake. A
//!   request of that era is decided, recorded and traced exactly as its 2025 equivalent; a
//!   version AgentK does not speak is refused (`-32022`) and recorded; the requests a server
//!   embeds in an `input_required` answer are each decided before any reaches the client, and
//!   the answers the client's retry carries are recorded as the client's (or taken out).
//! - Frames are bounded before they are parsed, and so are the requests waiting for answers;
//!   malformed input is answered with a JSON-RPC error and the session goes on; nothing in this
//!   crate panics on input, and no answer repeats what a peer sent.
//!
//! # Non-goals
//!
//! I/O outside the transports: sockets, processes and clocks belong to `stdio`, `gateway` and
//! `upstream` (features `stdio` and `gateway`); the rest is sans-IO ([`lines`] only frames a
//! `Read` the caller owns). TLS: the gateway speaks plain HTTP and is put behind a TLS
//! terminator.
//!
//! # Example
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use agentk_flightlog::kernel::{Kernel, MemoryLog};
//! use agentk_mcp::session::{Config, Out, Session, Side};
//!
//! let kernel = Kernel::builder()
//!     .profile(agentk_policy::Profile::Mcp)
//!     .signer(Arc::new(agentk_capability::SigningIdentity::from_secret(
//!         &[7; 32], // a deterministic test key
//!         agentk_capability::SignerSource::Embedded,
//!     )))
//!     .open_sink(MemoryLog::new())?;
//! let mut session = Session::new(kernel, Config::new("files"));
//! // A call before the handshake: decided, recorded, refused; nothing reaches the server.
//! let call = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file"}}"#;
//! let step = session.handle(&[(Side::Client, call)])?;
//! assert_eq!(step.mediated[0].decision, "deny");
//! assert!(matches!(step.outputs.as_slice(), [Out::ToClient(_)]));
//! session.close()?;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

pub mod approval;
#[cfg(feature = "fixture")]
pub mod fixture;
pub mod frame;
#[cfg(all(feature = "gateway", unix))]
pub mod gateway;
pub mod lines;
pub mod pins;
pub mod provenance;
pub mod scan;
pub mod server;
pub mod session;
pub mod spans;
#[cfg(all(feature = "stdio", unix))]
pub mod stdio;
#[cfg(all(feature = "gateway", unix))]
pub mod upstream;
