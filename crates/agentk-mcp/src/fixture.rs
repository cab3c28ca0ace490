//! A scripted MCP world for the demo and the efficacy suite. Being written.
