#!/usr/bin/env node
// Drives `agentk mcp-server` with the official TypeScript MCP SDK client (`Client` over
// `StdioClientTransport`), for crates/agentk-cli/tests/mcp_server.rs. Install with .ci/peers.
//
// Usage: node decide-client.mjs PLAN_JSON COMMAND [ARGS...]
//   PLAN_JSON: {"version": "2025-06-18" | null, "calls": [{"name": "decide", "arguments": {...}}, ...]}
//   With a version, the client's initialize asks for it (the SDK always asks for its latest, so
//   the request is rewritten on its way out by a thin wrapper around the transport).
// Prints one JSON object on stdout: what the server answered, for the test to judge:
//   {"negotiated", "serverVersion", "instructions", "capabilities", "tools", "calls": [{"name", "result"} | {"name", "error"}]}
// Exits 0 when the session ran (a tool error or a JSON-RPC error is reported, not fatal), 1 otherwise.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const TIMEOUT_MS = 8000;

// A transport that forwards to another, asks for `version` in initialize when one is given,
// and notes the version the server answered.
class PinnedTransport {
  constructor(inner, version) {
    this.inner = inner;
    this.version = version;
    this.negotiated = null;
  }
  async start() {
    this.inner.onmessage = (message, extra) => {
      if (this.negotiated === null && typeof message?.result?.protocolVersion === "string") {
        this.negotiated = message.result.protocolVersion;
      }
      this.onmessage?.(message, extra);
    };
    this.inner.onclose = () => this.onclose?.();
    this.inner.onerror = (error) => this.onerror?.(error);
    await this.inner.start();
  }
  async send(message, options) {
    if (this.version && message.method === "initialize") {
      message = { ...message, params: { ...message.params, protocolVersion: this.version } };
    }
    await this.inner.send(message, options);
  }
  async close() {
    await this.inner.close();
  }
  setProtocolVersion(version) {
    this.inner.setProtocolVersion?.(version);
  }
}

async function main() {
  const [planText, command, ...args] = process.argv.slice(2);
  if (!planText || !command) {
    console.error("usage: node decide-client.mjs PLAN_JSON COMMAND [ARGS...]");
    process.exit(2);
  }
  const plan = JSON.parse(planText);
  const transport = new PinnedTransport(
    new StdioClientTransport({ command, args, stderr: "inherit" }),
    plan.version ?? null,
  );
  const client = new Client({ name: "agentk-peer-node", version: "0.1.0" }, { capabilities: {} });
  await client.connect(transport, { timeout: TIMEOUT_MS });
  const report = {
    negotiated: transport.negotiated,
    serverVersion: client.getServerVersion() ?? null,
    instructions: client.getInstructions() ?? null,
    capabilities: client.getServerCapabilities() ?? null,
    tools: (await client.listTools(undefined, { timeout: TIMEOUT_MS })).tools,
    calls: [],
  };
  for (const call of plan.calls ?? []) {
    try {
      const result = await client.callTool({ name: call.name, arguments: call.arguments }, undefined, {
        timeout: TIMEOUT_MS,
      });
      report.calls.push({ name: call.name, result });
    } catch (error) {
      report.calls.push({ name: call.name, error: { code: error?.code ?? null, message: String(error?.message ?? error) } });
    }
  }
  await client.close();
  console.log(JSON.stringify(report));
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(`decide-client: ${error?.stack ?? error}`);
    process.exit(1);
  },
);
