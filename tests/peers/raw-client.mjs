#!/usr/bin/env node
// A raw, line-based MCP client (no SDK): the handshake at one protocol version, exactly as a
// client of that version writes it, then a handful of calls to server-everything, for
// crates/agentk-cli/tests/mcp_interop.rs. The TypeScript SDK 1.32.2 always asks for its latest
// version and declares its newer capabilities; this client declares none and sends only what
// the version defines, with string ids and id 0 as real clients use them.
//
// Usage: node raw-client.mjs VERSION -- COMMAND [ARGS...]
// Prints one JSON object per line ({"check", "ok", ...}, then {"summary": ...}) like
// interop-client.mjs; exits 0 only when every check passed. Every line the server side writes
// must be one JSON-RPC 2.0 object; the command must exit 0 once its stdin is closed.
import { spawn } from "node:child_process";
import readline from "node:readline";

const VERSIONS = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];
const ANSWER_TIMEOUT_MS = 10_000;
const EXIT_TIMEOUT_MS = 10_000;

let passed = 0;
let negotiated = null;
const failures = [];
const line = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);

async function check(name, body) {
  try {
    const detail = await body();
    passed += 1;
    line({ check: name, ok: true, ...(detail === undefined ? {} : { detail }) });
  } catch (error) {
    failures.push(name);
    line({ check: name, ok: false, error: String(error?.message ?? error) });
  }
}

function expect(condition, message) {
  if (!condition) throw new Error(message);
}

async function main() {
  const [version, separator, command, ...args] = process.argv.slice(2);
  if (!VERSIONS.includes(version) || separator !== "--" || !command) {
    console.error(`usage: node raw-client.mjs ${VERSIONS.join("|")} -- COMMAND [ARGS...]`);
    return 2;
  }
  const child = spawn(command, args, { stdio: ["pipe", "pipe", "inherit"] });
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  const spawned = new Promise((resolve, reject) => {
    child.on("spawn", resolve);
    child.on("error", reject);
  });
  await spawned;

  const unframed = [];
  const messages = [];
  const waiting = new Map();
  readline.createInterface({ input: child.stdout }).on("line", (text) => {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      unframed.push(text);
      return;
    }
    if (message === null || typeof message !== "object" || Array.isArray(message) || message.jsonrpc !== "2.0") {
      unframed.push(text);
      return;
    }
    messages.push(message);
    const key = JSON.stringify(message.id);
    if (message.method === undefined && waiting.has(key)) {
      waiting.get(key)(message);
      waiting.delete(key);
    }
  });
  const send = (message) => child.stdin.write(`${JSON.stringify({ jsonrpc: "2.0", ...message })}\n`);
  // Sends a request and answers the response with the very same id (number or string).
  const request = (id, method, params) => {
    const answer = new Promise((resolve, reject) => {
      waiting.set(JSON.stringify(id), resolve);
      setTimeout(() => reject(new Error(`no answer to ${method} (id ${JSON.stringify(id)}) within ${ANSWER_TIMEOUT_MS} ms`)),
        ANSWER_TIMEOUT_MS);
    });
    send({ id, method, ...(params === undefined ? {} : { params }) });
    return answer;
  };
  const result = (answer) => {
    expect("result" in answer, `an error answer: ${JSON.stringify(answer.error)}`);
    return answer.result;
  };

  await check(`initialize at ${version}`, async () => {
    const init = result(await request(0, "initialize", {
      protocolVersion: version,
      capabilities: {},
      clientInfo: { name: "agentk-raw-client", version: "0.1.0" },
    }));
    negotiated = init.protocolVersion ?? null;
    expect(negotiated === version, `negotiated ${negotiated}`);
    expect(init.serverInfo?.name === "mcp-servers/everything", `serverInfo ${JSON.stringify(init.serverInfo)}`);
    expect(init.capabilities?.tools && init.capabilities?.resources && init.capabilities?.prompts, "capabilities");
    send({ method: "notifications/initialized" });
    return { protocolVersion: init.protocolVersion };
  });
  await check("tools/list (a string id)", async () => {
    const tools = result(await request("list-1", "tools/list")).tools.map((t) => t.name);
    // The client declared no sampling, elicitation or roots: the server offers its 13 base tools.
    expect(tools.length === 13 && tools.includes("echo") && !tools.includes("trigger-sampling-request"), `tools ${tools}`);
  });
  await check("tools/call echo", async () => {
    const r = result(await request(2, "tools/call", { name: "echo", arguments: { message: `raw ${version}` } }));
    expect(JSON.stringify(r.content) === JSON.stringify([{ type: "text", text: `Echo: raw ${version}` }]), JSON.stringify(r));
  });
  await check("tools/call get-sum", async () => {
    const r = result(await request("sum-3", "tools/call", { name: "get-sum", arguments: { a: 40, b: 2 } }));
    expect(r.content?.[0]?.text === "The sum of 40 and 2 is 42.", JSON.stringify(r));
  });
  await check("resources/read", async () => {
    const r = result(await request(4, "resources/read", { uri: "demo://resource/dynamic/text/7" }));
    expect(r.contents?.[0]?.text?.startsWith("Resource 7: This is a plaintext resource"), JSON.stringify(r));
  });
  await check("prompts/get", async () => {
    const r = result(await request(5, "prompts/get", { name: "args-prompt", arguments: { city: "Basel" } }));
    expect(r.messages?.[0]?.content?.text === "What's weather in Basel?", JSON.stringify(r));
  });
  await check("ping", async () => {
    expect(JSON.stringify(result(await request(6, "ping"))) === "{}", "ping answer");
  });
  await check("every line from the server is one JSON-RPC 2.0 object", () => {
    expect(unframed.length === 0, `unframed lines: ${JSON.stringify(unframed.slice(0, 3))}`);
    return { messages: messages.length };
  });
  child.stdin.end();
  await check("the command exits 0 once its stdin is closed", async () => {
    let timer;
    const outcome = await Promise.race([
      exited,
      new Promise((resolve) => { timer = setTimeout(() => resolve(null), EXIT_TIMEOUT_MS); }),
    ]);
    clearTimeout(timer);
    if (outcome === null) child.kill("SIGKILL");
    expect(outcome !== null, `still running ${EXIT_TIMEOUT_MS} ms after stdin closed`);
    expect(outcome.code === 0, `exit ${JSON.stringify(outcome)}`);
  });
  line({ summary: { scenario: "raw", version, negotiated, passed, failed: failures.length, skipped: 0, failures } });
  return failures.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(`raw-client: ${error?.stack ?? error}`);
    process.exit(1);
  },
);
