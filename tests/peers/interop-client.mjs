#!/usr/bin/env node
// Drives a real MCP server (or `agentk mcp-proxy` in front of one) with the official TypeScript
// MCP SDK client (`Client` over `StdioClientTransport`), for
// crates/agentk-cli/tests/mcp_interop.rs. Install with .ci/peers.
//
// Usage: node interop-client.mjs SCENARIO [OPTIONS] -- COMMAND [ARGS...]
//   SCENARIO: everything | filesystem | memory (the reference server COMMAND runs, directly or
//   behind the proxy).
//   --version V          ask for protocol version V in initialize (2024-11-05, 2025-03-26,
//                        2025-06-18 or 2025-11-25) and check the answer agrees. SDK 1.32.2 always
//                        asks for its latest (LATEST_PROTOCOL_VERSION, no option to choose), so a
//                        thin wrapper around the transport rewrites the request on its way out.
//   --root DIR           filesystem: the server's allowed directory (the client writes beside it,
//                        in DIR's parent, to check that a path outside is refused)
//   --memory-file FILE   memory: the server's MEMORY_FILE_PATH, read back to see what it stored
//   --env-present NAME   everything: `get-env` must show NAME (repeatable)
//   --env-absent NAME    everything: `get-env` must not show NAME (repeatable)
// The client passes its whole environment to COMMAND (the SDK's default is a safe subset), so
// that whatever filtering happens is the proxy's.
//
// Prints one JSON object per line on stdout, one per check:
//   {"check": NAME, "ok": true, "detail": ...} | {"check": NAME, "ok": false, "error": ...}
//   | {"check": NAME, "skipped": REASON}
// then {"summary": {"scenario", "version", "negotiated", "passed", "failed", "skipped", "failures"}}.
// Checks look at what came back (text, structured content, bytes, files on disk, messages on the
// wire), not only at the absence of errors. Exits 0 only when every check that ran passed.
import { Buffer } from "node:buffer";
import fs from "node:fs";
import path from "node:path";
import { gunzipSync } from "node:zlib";

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
  ResourceListChangedNotificationSchema,
  ResourceUpdatedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";

const REQUEST_TIMEOUT_MS = 10_000;
// How long to wait for something the server sends on its own (a notification, a request);
// waits end as soon as it arrives.
const WAIT_MS = 5_000;
const SCENARIO_TIMEOUT_MS = 90_000;
const LATEST = "2025-11-25";
const VERSIONS = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

// --- checks ------------------------------------------------------------------------------------

class CheckFailed extends Error {}

function expect(condition, message) {
  if (!condition) throw new CheckFailed(message);
}

// JSON with object keys sorted: peers may order keys as they like.
function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    return `{${Object.keys(value).sort().filter((k) => value[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "undefined";
}

function same(actual, expected, what) {
  const a = canonical(actual);
  const e = canonical(expected);
  expect(a === e, `${what}: expected ${e}, got ${a}`);
}

function texts(result) {
  return (result?.content ?? []).filter((c) => c.type === "text").map((c) => c.text);
}

function short(value) {
  const text = typeof value === "string" ? value : String(JSON.stringify(value));
  return text.length > 400 ? `${text.slice(0, 400)}…` : text;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new CheckFailed(`${what}: nothing within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

class Report {
  constructor(scenario, version) {
    this.scenario = scenario;
    this.version = version;
    this.negotiated = null;
    this.passed = 0;
    this.failures = [];
    this.skipped = 0;
  }
  line(value) {
    process.stdout.write(`${JSON.stringify(value)}\n`);
  }
  // Runs one check; a failure is reported and the scenario goes on.
  async check(name, body) {
    try {
      const detail = await body();
      this.passed += 1;
      this.line({ check: name, ok: true, ...(detail === undefined ? {} : { detail }) });
      return true;
    } catch (error) {
      this.failures.push(name);
      const message = error instanceof CheckFailed ? error.message : String(error?.stack ?? error);
      this.line({ check: name, ok: false, error: message });
      return false;
    }
  }
  skip(name, reason) {
    this.skipped += 1;
    this.line({ check: name, skipped: reason });
  }
  summary() {
    this.line({
      summary: {
        scenario: this.scenario,
        version: this.version,
        negotiated: this.negotiated,
        passed: this.passed,
        failed: this.failures.length,
        skipped: this.skipped,
        failures: this.failures,
      },
    });
    return this.failures.length === 0 && this.passed > 0;
  }
}

// --- the wire ----------------------------------------------------------------------------------

// A transport that forwards to the SDK's stdio transport, asks for `version` in initialize when
// one is given, and keeps every message both ways so checks can look at the wire itself.
class WireTransport {
  constructor(inner, version) {
    this.inner = inner;
    this.version = version;
    this.sent = [];
    this.received = [];
    this.waiters = [];
  }
  async start() {
    this.inner.onmessage = (message, extra) => {
      this.received.push(message);
      for (const waiter of [...this.waiters]) {
        if (waiter.matches(message)) {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          waiter.resolve(message);
        }
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
    this.sent.push(message);
    await this.inner.send(message, options);
  }
  async close() {
    await this.inner.close();
  }
  setProtocolVersion(version) {
    this.inner.setProtocolVersion?.(version);
  }
  // The first message received (already or from now on) that `matches`.
  waitReceived(matches, ms, what) {
    const seen = this.received.find(matches);
    if (seen) return Promise.resolve(seen);
    return within(new Promise((resolve) => this.waiters.push({ matches, resolve })), ms, what);
  }
  negotiated() {
    const init = this.sent.find((m) => m.method === "initialize");
    const answer = init && this.received.find((m) => m.id === init.id && "result" in m);
    return answer?.result?.protocolVersion ?? null;
  }
}

// --- scenario: server-everything ----------------------------------------------------------------

const EVERYTHING_TOOLS = [
  "echo",
  "get-annotated-message",
  "get-env",
  "get-resource-links",
  "get-resource-reference",
  "get-roots-list",
  "get-structured-content",
  "get-sum",
  "get-tiny-image",
  "gzip-file-as-resource",
  "simulate-research-query",
  "toggle-simulated-logging",
  "toggle-subscriber-updates",
  "trigger-elicitation-request",
  "trigger-long-running-operation",
  "trigger-sampling-request",
  "trigger-url-elicitation",
];
const ROOT_A = { uri: "file:///tmp/agentk-interop-root-a", name: "interop-root-a" };
const ROOT_B = { uri: "file:///tmp/agentk-interop-root-b", name: "interop-root-b" };
const SAMPLING_REPLY = "canned sampling reply from interop-client 7f3a";
const LOG_LEVELS = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"];
const SIMULATED_LOG = /^((Debug|Info|Notice|Warning|Error|Critical|Emergency)-level message|Alert level-message)$/;

function everything() {
  const state = { roots: [ROOT_A], sampling: [], elicitation: [], rootsAsked: 0, logs: [], updated: [], listChanged: 0 };
  return {
    capabilities: { sampling: {}, elicitation: { form: {}, url: {} }, roots: { listChanged: true } },
    setup(client) {
      client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
        state.sampling.push(request.params);
        return { role: "assistant", content: { type: "text", text: SAMPLING_REPLY }, model: "interop-model", stopReason: "endTurn" };
      });
      client.setRequestHandler(ElicitRequestSchema, async (request) => {
        state.elicitation.push(request.params);
        if (request.params.mode === "url") return { action: "accept" };
        return { action: "accept", content: { name: "Ada Lovelace", check: true, integer: 7 } };
      });
      client.setRequestHandler(ListRootsRequestSchema, async () => {
        state.rootsAsked += 1;
        return { roots: state.roots };
      });
      client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => state.logs.push(n.params));
      client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => state.updated.push(n.params.uri));
      client.setNotificationHandler(ResourceListChangedNotificationSchema, () => {
        state.listChanged += 1;
      });
    },
    run: (ctx) => runEverything(ctx, state),
  };
}

async function runEverything({ client, wire, report, opts }, state) {
  const covered = new Set();
  const call = async (name, args, options = {}) => {
    covered.add(name);
    const result = await client.callTool({ name, arguments: args }, undefined, { timeout: REQUEST_TIMEOUT_MS, ...options });
    expect(!result.isError, `${name} answered isError: ${short(result)}`);
    return result;
  };
  const waitLog = (matches, what) => within(
    (async () => {
      for (;;) {
        const found = state.logs.find(matches);
        if (found) return found;
        await sleep(20);
      }
    })(),
    WAIT_MS,
    what,
  );

  await report.check("initialize", () => {
    const expected = opts.version ?? LATEST;
    same(wire.negotiated(), expected, "negotiated protocolVersion");
    same(client.getServerVersion()?.name, "mcp-servers/everything", "serverInfo.name");
    const caps = client.getServerCapabilities() ?? {};
    expect(caps.tools && caps.prompts && caps.logging && caps.completions, `capabilities: ${short(caps)}`);
    same(caps.resources?.subscribe, true, "capabilities.resources.subscribe");
    expect((client.getInstructions() ?? "").startsWith("# Everything Server"), "instructions missing or changed");
    return { protocolVersion: expected };
  });

  let tools = [];
  await report.check("tools/list", async () => {
    tools = (await client.listTools(undefined, { timeout: REQUEST_TIMEOUT_MS })).tools;
    const names = tools.map((t) => t.name).sort();
    same(names, EVERYTHING_TOOLS, "tool names (all 13, plus the four the client's sampling, elicitation and roots add)");
    const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
    same(byName.echo.inputSchema.required, ["message"], "echo's required arguments");
    same(byName.echo.annotations?.readOnlyHint, true, "echo's readOnlyHint");
    same(Object.keys(byName["get-structured-content"].outputSchema?.properties ?? {}).sort(),
      ["conditions", "humidity", "temperature"], "get-structured-content's outputSchema");
    same(byName["simulate-research-query"].execution?.taskSupport, "required", "simulate-research-query's taskSupport");
    return names.length;
  });

  await report.check("roots/list from the server after initialize", async () => {
    const asked = await wire.waitReceived((m) => m.method === "roots/list", WAIT_MS, "the server's roots/list");
    // The server logs what it received once it has the answer.
    const log = await waitLog((l) => String(l.data).startsWith("Roots updated"), "the server's roots log");
    same(log.data, "Roots updated: 1 root(s) received from client", "notifications/message after roots/list");
    const answered = wire.sent.find((m) => m.id === asked.id && "result" in m);
    expect(answered, `no answer sent to roots/list id ${asked.id}`);
    same(answered.result.roots, [ROOT_A], "roots answered");
  });

  await report.check("tool echo", async () => {
    const message = "interop ünïcødé ✓ \"quoted\" \\ 42";
    const r = await call("echo", { message });
    same(texts(r), [`Echo: ${message}`], "echo text");
  });

  await report.check("tool get-sum", async () => {
    same(texts(await call("get-sum", { a: 19, b: 23.5 })), ["The sum of 19 and 23.5 is 42.5."], "get-sum text");
  });

  await report.check("tool get-structured-content", async () => {
    const r = await call("get-structured-content", { location: "Chicago" });
    const s = r.structuredContent;
    expect(typeof s?.temperature === "number" && typeof s?.conditions === "string" && typeof s?.humidity === "number",
      `structuredContent: ${short(s)}`);
    same(JSON.parse(texts(r)[0]), s, "the text content is the structured content");
    return s;
  });

  await report.check("tool get-tiny-image", async () => {
    const r = await call("get-tiny-image", {});
    same(r.content.map((c) => c.type), ["text", "image", "text"], "content types");
    same(r.content[1].mimeType, "image/png", "image mimeType");
    const png = Buffer.from(r.content[1].data, "base64");
    same([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], "PNG signature");
    same([png.readUInt32BE(16), png.readUInt32BE(20)], [20, 20], "PNG IHDR width and height");
    return { bytes: png.length };
  });

  await report.check("tool get-annotated-message", async () => {
    const r = await call("get-annotated-message", { messageType: "error", includeImage: true });
    same(r.content[0], { type: "text", text: "Error: Operation failed", annotations: { priority: 1, audience: ["user", "assistant"] } },
      "annotated text");
    same([r.content[1].type, r.content[1].mimeType, r.content[1].annotations], ["image", "image/png", { priority: 0.5, audience: ["user"] }],
      "annotated image");
  });

  await report.check("tool get-resource-links, and reading a link", async () => {
    const r = await call("get-resource-links", { count: 3 });
    same(texts(r), ["Here are 3 resource links to resources available in this server:"], "intro text");
    const links = r.content.filter((c) => c.type === "resource_link");
    same(links.map((l) => l.uri), ["demo://resource/dynamic/blob/1", "demo://resource/dynamic/text/2", "demo://resource/dynamic/blob/3"],
      "resource_link uris");
    const read = await client.readResource({ uri: links[1].uri }, { timeout: REQUEST_TIMEOUT_MS });
    expect(read.contents[0].text.startsWith("Resource 2: This is a plaintext resource created at"), `read ${short(read)}`);
  });

  await report.check("tool get-resource-reference", async () => {
    const r = await call("get-resource-reference", { resourceType: "Blob", resourceId: 4 });
    same(r.content.map((c) => c.type), ["text", "resource", "text"], "content types");
    same(r.content[1].resource.uri, "demo://resource/dynamic/blob/4", "embedded resource uri");
    const text = Buffer.from(r.content[1].resource.blob, "base64").toString("utf8");
    expect(text.startsWith("Resource 4: This is a base64 blob created at"), `blob: ${short(text)}`);
  });

  await report.check("tool get-env", async () => {
    const env = JSON.parse(texts(await call("get-env", {}))[0]);
    expect(typeof env.PATH === "string" && env.PATH.length > 0, "PATH missing from the server's environment");
    for (const name of opts.envPresent) expect(name in env, `\`${name}\` missing from the server's environment`);
    for (const name of opts.envAbsent) expect(!(name in env), `\`${name}\` reached the server's environment`);
    return { variables: Object.keys(env).sort() };
  });

  // The default argument fetches a URL; the network is closed here, so a data: URI stands in.
  await report.check("tool gzip-file-as-resource (a data: URI), and reading the result", async () => {
    const original = "interop gzip payload ✓\n".repeat(20);
    const data = `data:text/plain;base64,${Buffer.from(original).toString("base64")}`;
    const before = state.listChanged;
    const r = await call("gzip-file-as-resource", { name: "interop.txt.gz", data, outputType: "resourceLink" });
    same(r.content.map((c) => [c.type, c.uri, c.mimeType]), [["resource_link", "demo://resource/session/interop.txt.gz", "application/gzip"]],
      "resource link");
    const read = await client.readResource({ uri: "demo://resource/session/interop.txt.gz" }, { timeout: REQUEST_TIMEOUT_MS });
    same(gunzipSync(Buffer.from(read.contents[0].blob, "base64")).toString("utf8"), original, "the gunzipped resource");
    const listed = (await client.listResources(undefined, { timeout: REQUEST_TIMEOUT_MS })).resources.map((x) => x.uri);
    expect(listed.includes("demo://resource/session/interop.txt.gz"), "the session resource is not listed");
    await within((async () => { while (state.listChanged === before) await sleep(20); })(), WAIT_MS, "notifications/resources/list_changed");
  });

  await report.check("tool trigger-long-running-operation with progress", async () => {
    const progress = [];
    const r = await call("trigger-long-running-operation", { duration: 0.6, steps: 3 }, { onprogress: (p) => progress.push(p) });
    same(texts(r), ["Long running operation completed. Duration: 0.6 seconds, Steps: 3."], "result text");
    // On the wire: three notifications/progress for the request's token, in order, before its answer.
    const request = wire.sent.findLast((m) => m.method === "tools/call" && m.params?.name === "trigger-long-running-operation");
    const token = request.params._meta?.progressToken;
    expect(token !== undefined, "the SDK sent no progressToken");
    const answerAt = wire.received.findIndex((m) => m.id === request.id && "result" in m);
    const notes = wire.received
      .map((m, i) => [m, i])
      .filter(([m]) => m.method === "notifications/progress" && m.params?.progressToken === token);
    same(notes.map(([m]) => [m.params.progress, m.params.total]), [[1, 3], [2, 3], [3, 3]], "progress notifications on the wire");
    expect(notes.every(([, i]) => i < answerAt), "a progress notification arrived after the answer");
    // The SDK may hand the last one over after the answer (seen without any proxy), so at least two.
    expect(progress.length >= 2 && progress.every((p, i) => p.progress === i + 1 && p.total === 3), `onprogress saw ${short(progress)}`);
    return { onprogress: progress.length };
  });

  await report.check("tool trigger-sampling-request (sampling/createMessage to the client)", async () => {
    const r = await call("trigger-sampling-request", { prompt: "interop sampling prompt", maxTokens: 17 });
    same(state.sampling.length, 1, "sampling requests the client received");
    const asked = state.sampling[0];
    same(asked.messages, [{ role: "user", content: { type: "text", text: "Resource trigger-sampling-request context: interop sampling prompt" } }],
      "sampling messages");
    same([asked.maxTokens, asked.systemPrompt], [17, "You are a helpful test server."], "sampling parameters");
    const answer = JSON.parse(texts(r)[0].replace(/^LLM sampling result: \n/, ""));
    same(answer, { model: "interop-model", stopReason: "endTurn", role: "assistant", content: { type: "text", text: SAMPLING_REPLY } },
      "the server saw the client's reply");
  });

  await report.check("tool trigger-elicitation-request (elicitation/create to the client)", async () => {
    const r = await call("trigger-elicitation-request", {});
    same(state.elicitation.length, 1, "elicitation requests the client received");
    same(state.elicitation[0].message, "Please provide inputs for the following fields:", "elicitation message");
    same(state.elicitation[0].requestedSchema.required, ["name"], "elicitation requestedSchema.required");
    const text = texts(r).join("\n");
    expect(text.includes("✅ User provided the requested information!"), `result: ${short(text)}`);
    expect(text.includes("- Name: Ada Lovelace") && text.includes("- Agreed to terms: true") && text.includes("- Favorite Integer: 7"),
      `result: ${short(text)}`);
  });

  await report.check("tool trigger-url-elicitation (a URL-mode elicitation/create, then the -32042 error path)", async () => {
    const url = "https://example.invalid/agentk-interop-consent";
    const from = state.elicitation.length;
    const r = await call("trigger-url-elicitation", { url, elicitationId: "interop-url-1" });
    same(state.elicitation.slice(from).map((p) => [p.mode, p.url, p.elicitationId]), [["url", url, "interop-url-1"]], "the URL elicitation");
    same(texts(r)[0], `✅ User completed the URL elicitation flow.\nElicitation ID: interop-url-1\nURL: ${url}`, "result text");
    // The error path: a JSON-RPC error -32042 whose data names the prerequisite URL; the retry
    // with the same arguments goes through.
    let error = null;
    try {
      await call("trigger-url-elicitation", { url, errorPath: true });
    } catch (e) {
      error = e;
    }
    same(error?.code, -32042, `the error path (${error})`);
    same(error.data?.elicitations?.map((e) => [e.mode, e.url]), [["url", "https://modelcontextprotocol.io"]], "the prerequisite");
    const retried = await call("trigger-url-elicitation", { url, errorPath: true });
    expect(texts(retried)[0].startsWith("✅ User completed the URL elicitation flow."), `retry: ${short(retried)}`);
  });

  await report.check("tool get-roots-list, then notifications/roots/list_changed", async () => {
    let text = texts(await call("get-roots-list", {}))[0];
    expect(text.startsWith("Current MCP Roots (1 total):") && text.includes(`URI: ${ROOT_A.uri}`), `first: ${short(text)}`);
    const asked = state.rootsAsked;
    state.roots = [ROOT_A, ROOT_B];
    await client.sendRootsListChanged();
    await within((async () => { while (state.rootsAsked === asked) await sleep(20); })(), WAIT_MS, "roots/list after list_changed");
    await sleep(50);
    text = texts(await call("get-roots-list", {}))[0];
    expect(text.startsWith("Current MCP Roots (2 total):") && text.includes(`2. ${ROOT_B.name}`), `after the change: ${short(text)}`);
  });

  await report.check("logging/setLevel, tool toggle-simulated-logging", async () => {
    same(await client.setLoggingLevel("debug", { timeout: REQUEST_TIMEOUT_MS }), {}, "logging/setLevel answer");
    const from = state.logs.length;
    const on = texts(await call("toggle-simulated-logging", {}))[0];
    expect(on.startsWith("Started simulated, random-leveled logging"), `on: ${short(on)}`);
    const log = await waitLog((l) => state.logs.indexOf(l) >= from && SIMULATED_LOG.test(String(l.data)), "a simulated notifications/message");
    expect(LOG_LEVELS.includes(log.level), `level ${log.level}`);
    const off = texts(await call("toggle-simulated-logging", {}))[0];
    expect(off.startsWith("Stopped simulated logging"), `off: ${short(off)}`);
    return log;
  });

  const document = "demo://resource/static/document/architecture.md";
  await report.check("resources/subscribe, tool toggle-subscriber-updates, resources/unsubscribe", async () => {
    same(await client.subscribeResource({ uri: document }, { timeout: REQUEST_TIMEOUT_MS }), {}, "subscribe answer");
    await waitLog((l) => l.data === `Received Subscribe Resource request for URI: ${document} `, "the subscribe log");
    const on = texts(await call("toggle-subscriber-updates", {}))[0];
    expect(on.startsWith("Started simulated resource updated notifications"), `on: ${short(on)}`);
    await within((async () => { while (!state.updated.includes(document)) await sleep(20); })(), WAIT_MS,
      "notifications/resources/updated");
    const off = texts(await call("toggle-subscriber-updates", {}))[0];
    expect(off.startsWith("Stopped simulated resource updates"), `off: ${short(off)}`);
    same(await client.unsubscribeResource({ uri: document }, { timeout: REQUEST_TIMEOUT_MS }), {}, "unsubscribe answer");
    await waitLog((l) => l.data === `Received Unsubscribe Resource request: ${document} `, "the unsubscribe log");
  });

  report.skip("tool simulate-research-query",
    "its execution.taskSupport is `required`: it runs only as a task (tools/call with `task`, then tasks/get and tasks/result), "
    + "and this client declares no tasks capability; tasks are not part of this interop suite");
  covered.add("simulate-research-query");

  await report.check("resources/list", async () => {
    const resources = (await client.listResources(undefined, { timeout: REQUEST_TIMEOUT_MS })).resources;
    const documents = resources.filter((r) => r.uri.startsWith("demo://resource/static/document/"));
    same(documents.length, 7, "static documents");
    expect(documents.every((r) => r.mimeType && r.name && r.description), `documents: ${short(documents)}`);
    expect(documents.some((r) => r.uri === document), `${document} not listed`);
    return resources.map((r) => r.uri);
  });

  await report.check("resources/templates/list", async () => {
    const templates = (await client.listResourceTemplates(undefined, { timeout: REQUEST_TIMEOUT_MS })).resourceTemplates;
    same(templates.map((t) => t.uriTemplate).sort(), ["demo://resource/dynamic/blob/{resourceId}", "demo://resource/dynamic/text/{resourceId}"],
      "uriTemplates");
  });

  await report.check("resources/read (a static document, a text and a blob template)", async () => {
    const doc = (await client.readResource({ uri: document }, { timeout: REQUEST_TIMEOUT_MS })).contents;
    same([doc.length, doc[0].uri, doc[0].mimeType], [1, document, "text/markdown"], "document");
    expect(doc[0].text.length > 100, `document text: ${short(doc[0].text)}`);
    const text = (await client.readResource({ uri: "demo://resource/dynamic/text/11" }, { timeout: REQUEST_TIMEOUT_MS })).contents[0];
    expect(text.text.startsWith("Resource 11: This is a plaintext resource created at"), `text: ${short(text)}`);
    const blob = (await client.readResource({ uri: "demo://resource/dynamic/blob/12" }, { timeout: REQUEST_TIMEOUT_MS })).contents[0];
    const decoded = Buffer.from(blob.blob, "base64").toString("utf8");
    expect(decoded.startsWith("Resource 12: This is a base64 blob created at"), `blob: ${short(decoded)}`);
  });

  await report.check("resources/read of an unknown resource is an error", async () => {
    let error = null;
    try {
      await client.readResource({ uri: "demo://resource/dynamic/text/not-a-number" }, { timeout: REQUEST_TIMEOUT_MS });
    } catch (e) {
      error = e;
    }
    expect(error !== null && typeof error.code === "number", "an unknown resource was read");
    return { code: error.code };
  });

  await report.check("prompts/list", async () => {
    const prompts = (await client.listPrompts(undefined, { timeout: REQUEST_TIMEOUT_MS })).prompts;
    same(prompts.map((p) => p.name).sort(), ["args-prompt", "completable-prompt", "resource-prompt", "simple-prompt"], "prompt names");
    same(prompts.find((p) => p.name === "args-prompt").arguments.map((a) => [a.name, a.required]), [["city", true], ["state", false]],
      "args-prompt arguments");
  });

  const prompt = (name, args) => client.getPrompt({ name, arguments: args }, { timeout: REQUEST_TIMEOUT_MS });
  const userText = (text) => ({ role: "user", content: { type: "text", text } });
  await report.check("prompts/get simple-prompt", async () => {
    same((await prompt("simple-prompt")).messages, [userText("This is a simple prompt without arguments.")], "messages");
  });
  await report.check("prompts/get args-prompt", async () => {
    same((await prompt("args-prompt", { city: "Zürich", state: "ZH" })).messages, [userText("What's weather in Zürich, ZH?")], "messages");
  });
  await report.check("prompts/get completable-prompt", async () => {
    same((await prompt("completable-prompt", { department: "Engineering", name: "Alice" })).messages,
      [userText("Please promote Alice to the head of the Engineering team.")], "messages");
  });
  await report.check("prompts/get resource-prompt", async () => {
    const messages = (await prompt("resource-prompt", { resourceType: "Text", resourceId: "3" })).messages;
    same(messages[0], userText("This prompt includes the Text resource with id: 3. Please analyze the following resource:"), "first message");
    same([messages[1].content.type, messages[1].content.resource.uri], ["resource", "demo://resource/dynamic/text/3"], "embedded resource");
  });

  await report.check("completion/complete (prompt arguments, with context, and a template)", async () => {
    const complete = async (params) => (await client.complete(params, { timeout: REQUEST_TIMEOUT_MS })).completion.values;
    const promptRef = { type: "ref/prompt", name: "completable-prompt" };
    same(await complete({ ref: promptRef, argument: { name: "department", value: "E" } }), ["Engineering"], "department E");
    same(await complete({ ref: promptRef, argument: { name: "name", value: "" }, context: { arguments: { department: "Sales" } } }),
      ["David", "Eve", "Frank"], "name, in Sales");
    same(await complete({ ref: { type: "ref/resource", uri: "demo://resource/dynamic/text/{resourceId}" }, argument: { name: "resourceId", value: "5" } }),
      ["5"], "template resourceId");
  });

  await report.check("ping", async () => {
    same(await client.ping({ timeout: REQUEST_TIMEOUT_MS }), {}, "ping answer");
  });

  // A call cancelled once its first progress arrives: the SDK sends notifications/cancelled for
  // it, and the server, which keeps working (and sending progress) to the end, must not answer
  // it. Its last progress notification marks the end, where the answer would have come.
  await report.check("cancelling a long-running call", async () => {
    const [duration, steps] = [0.9, 3];
    const controller = new AbortController();
    let progressed;
    const firstProgress = new Promise((resolve) => { progressed = resolve; });
    const pending = client.callTool({ name: "trigger-long-running-operation", arguments: { duration, steps } }, undefined, {
      timeout: REQUEST_TIMEOUT_MS,
      signal: controller.signal,
      onprogress: () => progressed(),
    }).then(() => null, (error) => error);
    await within(firstProgress, WAIT_MS, "progress before cancelling");
    controller.abort("cancelled by interop-client");
    const error = await pending;
    expect(error !== null, "the cancelled call resolved");
    const request = wire.sent.findLast((m) => m.method === "tools/call" && m.params?.arguments?.duration === duration);
    const cancelled = wire.sent.find((m) => m.method === "notifications/cancelled" && m.params?.requestId === request.id);
    expect(cancelled, `no notifications/cancelled sent for id ${request.id}`);
    const token = request.params._meta.progressToken;
    const last = await wire.waitReceived(
      (m) => m.method === "notifications/progress" && m.params?.progressToken === token && m.params?.progress === steps,
      duration * 1000 + WAIT_MS,
      "the cancelled operation's last progress",
    ).then(() => true, () => false);
    await sleep(last ? 300 : 0);
    const answer = wire.received.find((m) => m.id === request.id && ("result" in m || "error" in m));
    expect(!answer, `the cancelled request was answered: ${short(answer)}`);
    same(await client.ping({ timeout: REQUEST_TIMEOUT_MS }), {}, "ping after the cancellation");
    return { id: request.id, lastProgressSeen: last };
  });

  await report.check("every listed tool was called or skipped with a reason", () => {
    const missed = tools.map((t) => t.name).filter((name) => !covered.has(name));
    same(missed, [], "tools not exercised");
  });
}

// --- scenario: server-filesystem ----------------------------------------------------------------

const FILESYSTEM_TOOLS = [
  "create_directory",
  "directory_tree",
  "edit_file",
  "get_file_info",
  "list_allowed_directories",
  "list_directory",
  "list_directory_with_sizes",
  "move_file",
  "read_file",
  "read_media_file",
  "read_multiple_files",
  "read_text_file",
  "search_files",
  "write_file",
];

function filesystem() {
  return { capabilities: {}, setup() {}, run: runFilesystem };
}

async function runFilesystem({ client, wire, report, opts }) {
  expect(opts.root, "filesystem needs --root DIR");
  const root = fs.realpathSync(opts.root);
  const at = (...parts) => path.join(root, ...parts);
  const covered = new Set();
  const call = async (name, args) => {
    covered.add(name);
    return client.callTool({ name, arguments: args }, undefined, { timeout: REQUEST_TIMEOUT_MS });
  };
  const ok = async (name, args) => {
    const result = await call(name, args);
    expect(!result.isError, `${name} answered isError: ${short(result)}`);
    return result;
  };
  const refused = async (name, args) => {
    const result = await call(name, args);
    expect(result.isError === true, `${name} outside the root was not refused: ${short(result)}`);
    expect(texts(result).join("\n").startsWith("Access denied - "), `${name}: ${short(result)}`);
  };
  const notes = "alpha\nbeta\nünïcødé ✓\n";

  await report.check("initialize", () => {
    same(wire.negotiated(), opts.version ?? LATEST, "negotiated protocolVersion");
    same(client.getServerVersion()?.name, "secure-filesystem-server", "serverInfo.name");
  });
  let tools = [];
  await report.check("tools/list", async () => {
    tools = (await client.listTools(undefined, { timeout: REQUEST_TIMEOUT_MS })).tools;
    same(tools.map((t) => t.name).sort(), FILESYSTEM_TOOLS, "tool names");
  });
  await report.check("list_allowed_directories", async () => {
    same(texts(await ok("list_allowed_directories", {})), [`Allowed directories:\n${root}`], "text");
  });
  await report.check("create_directory", async () => {
    await ok("create_directory", { path: at("sub", "deeper") });
    expect(fs.statSync(at("sub", "deeper")).isDirectory(), "no directory on disk");
  });
  await report.check("write_file", async () => {
    await ok("write_file", { path: at("notes.txt"), content: notes });
    await ok("write_file", { path: at("sub", "b.txt"), content: "bee\n" });
    same(fs.readFileSync(at("notes.txt"), "utf8"), notes, "notes.txt on disk");
  });
  await report.check("read_text_file", async () => {
    const r = await ok("read_text_file", { path: at("notes.txt") });
    same([texts(r), r.structuredContent], [[notes], { content: notes }], "whole file");
    same(texts(await ok("read_text_file", { path: at("notes.txt"), head: 1 })), ["alpha"], "head 1");
  });
  await report.check("read_file", async () => {
    same(texts(await ok("read_file", { path: at("notes.txt") })), [notes], "text");
  });
  await report.check("read_multiple_files", async () => {
    const text = texts(await ok("read_multiple_files", { paths: [at("notes.txt"), at("sub", "b.txt")] })).join("\n");
    expect(text.includes(`${at("notes.txt")}:\n${notes}`) && text.includes(`${at("sub", "b.txt")}:\nbee\n`), `text: ${short(text)}`);
  });
  await report.check("read_media_file", async () => {
    const png = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==", "base64");
    fs.writeFileSync(at("dot.png"), png);
    const r = await ok("read_media_file", { path: at("dot.png") });
    same(r.content.map((c) => [c.type, c.mimeType, c.data]), [["image", "image/png", png.toString("base64")]], "content");
  });
  await report.check("edit_file (a dry run, then for real)", async () => {
    const edits = [{ oldText: "beta", newText: "gamma" }];
    const dry = texts(await ok("edit_file", { path: at("notes.txt"), edits, dryRun: true })).join("\n");
    expect(dry.includes("-beta") && dry.includes("+gamma"), `dry-run diff: ${short(dry)}`);
    same(fs.readFileSync(at("notes.txt"), "utf8"), notes, "notes.txt after the dry run");
    await ok("edit_file", { path: at("notes.txt"), edits });
    same(fs.readFileSync(at("notes.txt"), "utf8"), notes.replace("beta", "gamma"), "notes.txt after the edit");
  });
  await report.check("list_directory", async () => {
    const lines = texts(await ok("list_directory", { path: root }))[0].split("\n").sort();
    same(lines, ["[DIR] sub", "[FILE] dot.png", "[FILE] notes.txt"], "entries");
  });
  await report.check("list_directory_with_sizes", async () => {
    const text = texts(await ok("list_directory_with_sizes", { path: root }))[0];
    expect(/\[FILE\] notes\.txt\s+\d/.test(text) && text.includes("[DIR] sub"), `text: ${short(text)}`);
  });
  await report.check("directory_tree", async () => {
    const tree = JSON.parse(texts(await ok("directory_tree", { path: root }))[0]);
    const sub = tree.find((e) => e.name === "sub");
    same([sub?.type, sub?.children?.map((c) => c.name).sort()], ["directory", ["b.txt", "deeper"]], "sub in the tree");
  });
  await report.check("move_file", async () => {
    await ok("move_file", { source: at("sub", "b.txt"), destination: at("sub", "c.txt") });
    expect(!fs.existsSync(at("sub", "b.txt")) && fs.readFileSync(at("sub", "c.txt"), "utf8") === "bee\n", "not moved on disk");
  });
  await report.check("search_files", async () => {
    const found = texts(await ok("search_files", { path: root, pattern: "**/*.txt" }))[0].split("\n").sort();
    same(found, [at("notes.txt"), at("sub", "c.txt")], "matches");
  });
  await report.check("get_file_info", async () => {
    const text = texts(await ok("get_file_info", { path: at("notes.txt") }))[0];
    const size = Buffer.byteLength(notes.replace("beta", "gamma"));
    expect(text.includes(`size: ${size}`) && text.includes("isFile: true"), `text: ${short(text)}`);
  });
  await report.check("paths outside the root are refused by the server", async () => {
    const outside = path.join(path.dirname(root), `${path.basename(root)}-outside`);
    fs.mkdirSync(outside, { recursive: true });
    fs.writeFileSync(path.join(outside, "secret.txt"), "not for the server\n");
    await refused("read_text_file", { path: path.join(outside, "secret.txt") });
    await refused("read_text_file", { path: at("..", `${path.basename(root)}-outside`, "secret.txt") });
    await refused("write_file", { path: path.join(outside, "planted.txt"), content: "x" });
    expect(!fs.existsSync(path.join(outside, "planted.txt")), "a file was written outside the root");
    fs.symlinkSync(outside, at("escape"));
    await refused("read_text_file", { path: at("escape", "secret.txt") });
  });
  await report.check("every listed tool was called", () => {
    same(tools.map((t) => t.name).filter((name) => !covered.has(name)), [], "tools not exercised");
  });
}

// --- scenario: server-memory --------------------------------------------------------------------

const MEMORY_TOOLS = [
  "add_observations",
  "create_entities",
  "create_relations",
  "delete_entities",
  "delete_observations",
  "delete_relations",
  "open_nodes",
  "read_graph",
  "search_nodes",
];

function memory() {
  return { capabilities: {}, setup() {}, run: runMemory };
}

async function runMemory({ client, wire, report, opts }) {
  expect(opts.memoryFile, "memory needs --memory-file FILE");
  const covered = new Set();
  const ok = async (name, args) => {
    covered.add(name);
    const result = await client.callTool({ name, arguments: args }, undefined, { timeout: REQUEST_TIMEOUT_MS });
    expect(!result.isError, `${name} answered isError: ${short(result)}`);
    return result;
  };
  const stored = () => fs.readFileSync(opts.memoryFile, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
  const ada = { name: "Ada_Lovelace", entityType: "person", observations: ["wrote the first published program"] };
  const engine = { name: "Analytical_Engine", entityType: "machine", observations: ["designed by Charles Babbage"] };
  const relation = { from: "Ada_Lovelace", to: "Analytical_Engine", relationType: "programmed" };

  await report.check("initialize", () => {
    same(wire.negotiated(), opts.version ?? LATEST, "negotiated protocolVersion");
    same(client.getServerVersion()?.name, "memory-server", "serverInfo.name");
  });
  let tools = [];
  await report.check("tools/list", async () => {
    tools = (await client.listTools(undefined, { timeout: REQUEST_TIMEOUT_MS })).tools;
    same(tools.map((t) => t.name).sort(), MEMORY_TOOLS, "tool names");
  });
  await report.check("create_entities", async () => {
    same((await ok("create_entities", { entities: [ada, engine] })).structuredContent, { entities: [ada, engine] }, "created");
    same(stored().map((x) => x.name), ["Ada_Lovelace", "Analytical_Engine"], `entities in MEMORY_FILE_PATH (${opts.memoryFile})`);
  });
  await report.check("create_relations", async () => {
    same((await ok("create_relations", { relations: [relation] })).structuredContent, { relations: [relation] }, "created");
  });
  await report.check("add_observations", async () => {
    const r = await ok("add_observations", { observations: [{ entityName: "Ada_Lovelace", contents: ["born 1815", ada.observations[0]] }] });
    same(r.structuredContent, { results: [{ entityName: "Ada_Lovelace", addedObservations: ["born 1815"] }] },
      "added (an observation already held is not added twice)");
  });
  const adaNow = { ...ada, observations: [...ada.observations, "born 1815"] };
  await report.check("read_graph", async () => {
    same((await ok("read_graph", {})).structuredContent, { entities: [adaNow, engine], relations: [relation] }, "graph");
  });
  await report.check("search_nodes", async () => {
    same((await ok("search_nodes", { query: "babbage" })).structuredContent, { entities: [engine], relations: [relation] }, "babbage");
    same((await ok("search_nodes", { query: "1815" })).structuredContent, { entities: [adaNow], relations: [relation] }, "1815");
    same((await ok("search_nodes", { query: "nobody" })).structuredContent, { entities: [], relations: [] }, "nobody");
  });
  await report.check("open_nodes", async () => {
    same((await ok("open_nodes", { names: ["Ada_Lovelace", "Analytical_Engine"] })).structuredContent,
      { entities: [adaNow, engine], relations: [relation] }, "nodes");
  });
  await report.check("delete_observations", async () => {
    await ok("delete_observations", { deletions: [{ entityName: "Ada_Lovelace", observations: ["born 1815"] }] });
    same((await ok("open_nodes", { names: ["Ada_Lovelace"] })).structuredContent.entities, [ada], "Ada after");
  });
  await report.check("delete_relations", async () => {
    await ok("delete_relations", { relations: [relation] });
    same((await ok("read_graph", {})).structuredContent.relations, [], "relations after");
  });
  await report.check("delete_entities", async () => {
    same((await ok("delete_entities", { entityNames: ["Ada_Lovelace"] })).structuredContent,
      { success: true, message: "Entities deleted successfully" }, "answer");
    same((await ok("read_graph", {})).structuredContent, { entities: [engine], relations: [] }, "graph after");
    same(stored().map((x) => x.name), ["Analytical_Engine"], "entities in MEMORY_FILE_PATH after");
  });
  await report.check("every listed tool was called", () => {
    same(tools.map((t) => t.name).filter((name) => !covered.has(name)), [], "tools not exercised");
  });
}

// --- main ----------------------------------------------------------------------------------------

const SCENARIOS = { everything, filesystem, memory };
const USAGE = "usage: node interop-client.mjs everything|filesystem|memory [--version V] [--root DIR] "
  + "[--memory-file FILE] [--env-present NAME]... [--env-absent NAME]... -- COMMAND [ARGS...]";

function parse(argv) {
  const opts = { scenario: argv[0], version: null, root: null, memoryFile: null, envPresent: [], envAbsent: [], command: [] };
  let i = 1;
  for (; i < argv.length && argv[i] !== "--"; i += 2) {
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`${argv[i]} needs a value`);
    switch (argv[i]) {
      case "--version": opts.version = value; break;
      case "--root": opts.root = value; break;
      case "--memory-file": opts.memoryFile = value; break;
      case "--env-present": opts.envPresent.push(value); break;
      case "--env-absent": opts.envAbsent.push(value); break;
      default: throw new Error(`unknown option ${argv[i]}`);
    }
  }
  opts.command = argv.slice(i + 1);
  if (!(opts.scenario in SCENARIOS) || opts.command.length === 0) throw new Error("no scenario or no command");
  if (opts.version !== null && !VERSIONS.includes(opts.version)) throw new Error(`unknown version ${opts.version}`);
  return opts;
}

async function main() {
  let opts;
  try {
    opts = parse(process.argv.slice(2));
  } catch (error) {
    console.error(`interop-client: ${error.message}\n${USAGE}`);
    return 2;
  }
  const scenario = SCENARIOS[opts.scenario]();
  const report = new Report(opts.scenario, opts.version);
  const [command, ...args] = opts.command;
  const wire = new WireTransport(
    new StdioClientTransport({ command, args, env: { ...process.env }, stderr: "inherit" }),
    opts.version,
  );
  const client = new Client({ name: "agentk-interop-node", version: "0.1.0" }, { capabilities: scenario.capabilities });
  scenario.setup(client);
  const watchdog = setTimeout(() => {
    report.line({ check: "scenario finished in time", ok: false, error: `still running after ${SCENARIO_TIMEOUT_MS} ms` });
    process.exit(1);
  }, SCENARIO_TIMEOUT_MS);
  const connected = await report.check("connect", async () => {
    await client.connect(wire, { timeout: REQUEST_TIMEOUT_MS });
  });
  if (connected) {
    report.negotiated = wire.negotiated();
    await report.check("scenario ran to its end", () => scenario.run({ client, wire, report, opts }));
  }
  await client.close().catch(() => {});
  clearTimeout(watchdog);
  return report.summary() ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(`interop-client: ${error?.stack ?? error}`);
    process.exit(1);
  },
);
