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
//!   steer the agent is labelled `poisoned-suspect` and withheld ([`scan`]).
//! - Frames are bounded before they are parsed; malformed input is answered with a JSON-RPC
//!   error and the session goes on; nothing in this crate panics on input.
//!
//! # Non-goals
//!
//! I/O of any kind: sockets, processes and clocks belong to the transports.
//!
//! # Example
//!
//! ```
//! let frame = agentk_mcp::frame::Frame::parse(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, &Default::default());
//! assert!(frame.is_ok());
//! ```
#![forbid(unsafe_code)]

pub mod frame;
pub mod lines;
pub mod pins;
pub mod scan;
pub mod server;
pub mod session;
