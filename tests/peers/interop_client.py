#!/usr/bin/env python3
"""Drives a real MCP server (or `agentk mcp-proxy` in front of one) with the official Python MCP
SDK client (PyPI `mcp` 2.3.0, `Client` over stdio), for crates/agentk-cli/tests/mcp_interop.rs.
Install with .ci/peers.

Usage: interop_client.py SCENARIO [--mode auto|legacy] [--memory-file FILE] -- COMMAND [ARGS...]
  SCENARIO: everything | memory (the reference server COMMAND runs, directly or behind the proxy).
  --mode auto (the SDK's default) first probes `server/discover` (the 2026-07-28 era) and falls
  back to the initialize handshake on an error; --mode legacy starts with initialize.
  --memory-file FILE: memory: the server's MEMORY_FILE_PATH, read back to see what it stored.
The client passes its whole environment to COMMAND (the SDK's default is a safe subset), so that
whatever filtering happens is the proxy's.

Prints one JSON object per line on stdout, one per check, like interop-client.mjs:
  {"check": NAME, "ok": true, "detail": ...} | {"check": NAME, "ok": false, "error": ...}
then {"summary": {"scenario", "mode", "negotiated", "passed", "failed", "skipped", "failures"}}.
Exits 0 only when every check that ran passed.
"""

import asyncio
import base64
import json
import os
import sys
import traceback
import warnings

import mcp.types as types
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPDeprecationWarning

REQUEST_TIMEOUT_SECONDS = 10.0
SCENARIO_TIMEOUT_SECONDS = 60.0
# The handshake-era features this suite exercises on purpose (logging/setLevel, subscriptions,
# roots) are deprecated as of 2026-07-28; the SDK's warnings about it are not news here.
warnings.filterwarnings("ignore", category=MCPDeprecationWarning)
HANDSHAKE_VERSION = "2025-11-25"

EVERYTHING_TOOLS = sorted(
    [
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
    ]
)
MEMORY_TOOLS = sorted(
    [
        "add_observations",
        "create_entities",
        "create_relations",
        "delete_entities",
        "delete_observations",
        "delete_relations",
        "open_nodes",
        "read_graph",
        "search_nodes",
    ]
)
SAMPLING_REPLY = "canned sampling reply from interop_client.py 51c2"
ROOT = {"uri": "file:///tmp/agentk-interop-py-root", "name": "interop-py-root"}


class CheckFailed(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise CheckFailed(message)


def same(actual, expected, what):
    a = json.dumps(actual, sort_keys=True, ensure_ascii=False)
    e = json.dumps(expected, sort_keys=True, ensure_ascii=False)
    expect(a == e, f"{what}: expected {e}, got {a}")


def dump(model):
    """A pydantic model as the JSON the server sent (camelCase, nothing unset)."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def texts(result):
    return [c["text"] for c in dump(result).get("content", []) if c.get("type") == "text"]


def short(value):
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= 400 else text[:400] + "…"


class Report:
    def __init__(self, scenario, mode):
        self.scenario = scenario
        self.mode = mode
        self.negotiated = None
        self.passed = 0
        self.skipped = 0
        self.failures = []

    def line(self, value):
        print(json.dumps(value, ensure_ascii=False), flush=True)

    async def check(self, name, body):
        """Runs one check; a failure is reported and the scenario goes on."""
        try:
            detail = await body()
        except Exception as error:  # any failure is the check's, reported and not fatal
            self.failures.append(name)
            message = str(error) if isinstance(error, CheckFailed) else "".join(traceback.format_exception(error))
            self.line({"check": name, "ok": False, "error": message})
            return False
        self.passed += 1
        self.line({"check": name, "ok": True, **({} if detail is None else {"detail": detail})})
        return True

    def skip(self, name, reason):
        self.skipped += 1
        self.line({"check": name, "skipped": reason})

    def summary(self):
        self.line(
            {
                "summary": {
                    "scenario": self.scenario,
                    "mode": self.mode,
                    "negotiated": self.negotiated,
                    "passed": self.passed,
                    "failed": len(self.failures),
                    "skipped": self.skipped,
                    "failures": self.failures,
                }
            }
        )
        return not self.failures and self.passed > 0


# --- scenario: server-everything ----------------------------------------------------------------


class Everything:
    def __init__(self):
        self.sampling = []
        self.elicitation = []
        self.roots_asked = 0
        self.logs = []
        self.updated = []

    def client_options(self):
        async def sampling(_context, params):
            self.sampling.append(dump(params))
            return types.CreateMessageResult(
                role="assistant",
                content=types.TextContent(type="text", text=SAMPLING_REPLY),
                model="interop-py-model",
                stop_reason="endTurn",
            )

        async def elicitation(_context, params):
            self.elicitation.append(dump(params))
            if getattr(params, "mode", None) == "url":
                return types.ElicitResult(action="accept")
            return types.ElicitResult(action="accept", content={"name": "Grace Hopper", "check": True})

        async def list_roots(_context):
            self.roots_asked += 1
            return types.ListRootsResult(roots=[types.Root(**ROOT)])

        async def logging(params):
            self.logs.append(dump(params))

        async def messages(message):
            if isinstance(message, types.ResourceUpdatedNotification):
                self.updated.append(str(message.params.uri))

        return {
            "sampling_callback": sampling,
            "elicitation_callback": elicitation,
            "list_roots_callback": list_roots,
            "logging_callback": logging,
            "message_handler": messages,
        }

    async def run(self, client, report):
        async def call(name, arguments, **options):
            result = await client.call_tool(name, arguments, **options)
            expect(not result.is_error, f"{name} answered isError: {short(dump(result))}")
            return result

        async def until(predicate, what, seconds=5.0):
            async def poll():
                while not predicate():
                    await asyncio.sleep(0.02)

            try:
                await asyncio.wait_for(poll(), seconds)
            except TimeoutError:
                raise CheckFailed(f"{what}: nothing within {seconds} s") from None

        async def connected():
            same(client.protocol_version, HANDSHAKE_VERSION, "negotiated protocol version")
            same(client.server_info.name if client.server_info else None, "mcp-servers/everything", "serverInfo.name")
            caps = dump(client.server_capabilities)
            expect(caps.get("resources", {}).get("subscribe") is True and "prompts" in caps, f"capabilities {short(caps)}")

        await report.check("initialize", connected)

        async def tools_list():
            names = sorted(t.name for t in (await client.list_tools()).tools)
            same(names, EVERYTHING_TOOLS, "tool names")

        await report.check("tools/list", tools_list)

        async def echo():
            message = "py interop ünïcødé ✓"
            same(texts(await call("echo", {"message": message})), [f"Echo: {message}"], "echo text")

        await report.check("tool echo", echo)

        async def get_sum():
            same(texts(await call("get-sum", {"a": 2, "b": 40})), ["The sum of 2 and 40 is 42."], "get-sum text")

        await report.check("tool get-sum", get_sum)

        async def structured():
            result = dump(await call("get-structured-content", {"location": "Los Angeles"}))
            content = result.get("structuredContent", {})
            same(sorted(content), ["conditions", "humidity", "temperature"], "structuredContent keys")
            same(json.loads(result["content"][0]["text"]), content, "the text content is the structured content")
            return content

        await report.check("tool get-structured-content", structured)

        async def image():
            result = dump(await call("get-tiny-image", {}))
            same([c["type"] for c in result["content"]], ["text", "image", "text"], "content types")
            png = base64.b64decode(result["content"][1]["data"])
            same(list(png[:8]), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "PNG signature")
            same(result["content"][1]["mimeType"], "image/png", "mimeType")

        await report.check("tool get-tiny-image", image)

        async def progress():
            seen = []

            async def on_progress(value, total, _message):
                seen.append([float(value), None if total is None else float(total)])

            result = await call(
                "trigger-long-running-operation", {"duration": 0.6, "steps": 3}, progress_callback=on_progress
            )
            same(texts(result), ["Long running operation completed. Duration: 0.6 seconds, Steps: 3."], "result text")
            await until(lambda: len(seen) == 3, "three progress notifications")
            same(seen, [[1.0, 3.0], [2.0, 3.0], [3.0, 3.0]], "progress")

        await report.check("tool trigger-long-running-operation with progress", progress)

        async def sampling():
            result = await call("trigger-sampling-request", {"prompt": "py sampling prompt", "maxTokens": 9})
            same(len(self.sampling), 1, "sampling requests the client received")
            same(
                self.sampling[0]["messages"],
                [{"role": "user", "content": {"type": "text", "text": "Resource trigger-sampling-request context: py sampling prompt"}}],
                "sampling messages",
            )
            answer = json.loads(texts(result)[0].removeprefix("LLM sampling result: \n"))
            same(answer["content"], {"type": "text", "text": SAMPLING_REPLY}, "the server saw the client's reply")
            same(answer["model"], "interop-py-model", "model")

        await report.check("tool trigger-sampling-request (sampling callback)", sampling)

        async def elicitation():
            text = "\n".join(texts(await call("trigger-elicitation-request", {})))
            same(len(self.elicitation), 1, "elicitation requests the client received")
            same(self.elicitation[0]["message"], "Please provide inputs for the following fields:", "message")
            expect("- Name: Grace Hopper" in text and "- Agreed to terms: true" in text, f"result {short(text)}")

        await report.check("tool trigger-elicitation-request (elicitation callback)", elicitation)

        async def url_elicitation():
            url = "https://example.invalid/agentk-interop-py"
            text = texts(await call("trigger-url-elicitation", {"url": url, "elicitationId": "py-url-1"}))[0]
            same([self.elicitation[-1].get(k) for k in ("mode", "url")], ["url", url], "the URL elicitation")
            same(text, f"✅ User completed the URL elicitation flow.\nElicitation ID: py-url-1\nURL: {url}", "result text")

        await report.check("tool trigger-url-elicitation (elicitation callback, URL mode)", url_elicitation)

        async def roots():
            text = texts(await call("get-roots-list", {}))[0]
            expect(self.roots_asked >= 1, "the roots callback was not called")
            expect(text.startswith("Current MCP Roots (1 total):") and f"URI: {ROOT['uri']}" in text, f"text {short(text)}")

        await report.check("tool get-roots-list (roots callback)", roots)

        document = "demo://resource/static/document/architecture.md"

        async def logging_and_updates():
            await client.set_logging_level("debug")
            await client.subscribe_resource(document)
            wanted = f"Received Subscribe Resource request for URI: {document} "
            await until(lambda: any(log.get("data") == wanted for log in self.logs), "the subscribe log")
            on = texts(await call("toggle-subscriber-updates", {}))[0]
            expect(on.startswith("Started simulated resource updated notifications"), f"on {short(on)}")
            await until(lambda: document in self.updated, "notifications/resources/updated")
            texts(await call("toggle-subscriber-updates", {}))
            await client.unsubscribe_resource(document)

        await report.check("logging/setLevel, resources/subscribe and updates (logging callback)", logging_and_updates)

        async def resources():
            listed = [str(r.uri) for r in (await client.list_resources()).resources]
            expect(document in listed and len(listed) >= 7, f"resources {short(listed)}")
            templates = sorted(t.uri_template for t in (await client.list_resource_templates()).resource_templates)
            same(templates, ["demo://resource/dynamic/blob/{resourceId}", "demo://resource/dynamic/text/{resourceId}"], "templates")
            doc = dump(await client.read_resource(document))["contents"][0]
            same([doc["uri"], doc["mimeType"]], [document, "text/markdown"], "document")
            expect(len(doc["text"]) > 100, "document text")
            blob = dump(await client.read_resource("demo://resource/dynamic/blob/8"))["contents"][0]["blob"]
            decoded = base64.b64decode(blob).decode()
            expect(decoded.startswith("Resource 8: This is a base64 blob created at"), f"blob {short(decoded)}")

        await report.check("resources/list, templates/list, read", resources)

        async def prompts():
            names = sorted(p.name for p in (await client.list_prompts()).prompts)
            same(names, ["args-prompt", "completable-prompt", "resource-prompt", "simple-prompt"], "prompts")
            got = dump(await client.get_prompt("args-prompt", {"city": "Genève"}))
            same(got["messages"], [{"role": "user", "content": {"type": "text", "text": "What's weather in Genève?"}}], "messages")
            ref = types.PromptReference(type="ref/prompt", name="completable-prompt")
            completed = await client.complete(ref, {"name": "department", "value": "S"})
            same(completed.completion.values, ["Sales", "Support"], "completion")

        await report.check("prompts/list, prompts/get, completion/complete", prompts)

        report.skip(
            "tool simulate-research-query",
            "its execution.taskSupport is `required`: it runs only as a task, and tasks are not part of this interop suite",
        )


# --- scenario: server-memory --------------------------------------------------------------------


class Memory:
    def __init__(self, memory_file):
        self.memory_file = memory_file

    def client_options(self):
        return {}

    async def run(self, client, report):
        expect(self.memory_file, "memory needs --memory-file FILE")
        entity = {"name": "Grace_Hopper", "entityType": "person", "observations": ["found a moth in the Mark II"]}

        async def call(name, arguments):
            result = await client.call_tool(name, arguments)
            expect(not result.is_error, f"{name} answered isError: {short(dump(result))}")
            return dump(result).get("structuredContent")

        def stored():
            with open(self.memory_file, encoding="utf-8") as f:
                return [json.loads(line)["name"] for line in f if line.strip()]

        async def connected():
            same(client.protocol_version, HANDSHAKE_VERSION, "negotiated protocol version")
            same(client.server_info.name if client.server_info else None, "memory-server", "serverInfo.name")

        await report.check("initialize", connected)

        async def tools_list():
            same(sorted(t.name for t in (await client.list_tools()).tools), MEMORY_TOOLS, "tool names")

        await report.check("tools/list", tools_list)

        async def create():
            same(await call("create_entities", {"entities": [entity]}), {"entities": [entity]}, "created")
            same(stored(), ["Grace_Hopper"], f"entities in MEMORY_FILE_PATH ({self.memory_file})")

        await report.check("create_entities", create)

        async def observe():
            added = await call("add_observations", {"observations": [{"entityName": "Grace_Hopper", "contents": ["COBOL"]}]})
            same(added, {"results": [{"entityName": "Grace_Hopper", "addedObservations": ["COBOL"]}]}, "added")
            found = await call("search_nodes", {"query": "cobol"})
            same([e["name"] for e in found["entities"]], ["Grace_Hopper"], "search")
            graph = await call("read_graph", {})
            same(graph["entities"][0]["observations"], [*entity["observations"], "COBOL"], "observations")

        await report.check("add_observations, search_nodes, read_graph", observe)

        async def delete():
            same(
                await call("delete_entities", {"entityNames": ["Grace_Hopper"]}),
                {"success": True, "message": "Entities deleted successfully"},
                "deleted",
            )
            same(await call("read_graph", {}), {"entities": [], "relations": []}, "graph after")
            same(stored(), [], "entities in MEMORY_FILE_PATH after")

        await report.check("delete_entities", delete)


# --- main ----------------------------------------------------------------------------------------

USAGE = "usage: interop_client.py everything|memory [--mode auto|legacy] [--memory-file FILE] -- COMMAND [ARGS...]"


def parse(argv):
    if "--" not in argv or not argv or argv[0] not in ("everything", "memory"):
        raise ValueError("no scenario or no command")
    split = argv.index("--")
    options, command = argv[1:split], argv[split + 1 :]
    opts = {"scenario": argv[0], "mode": "auto", "memory_file": None, "command": command}
    if not command or len(options) % 2:
        raise ValueError("no command, or an option without its value")
    for flag, value in zip(options[::2], options[1::2]):
        if flag == "--mode" and value in ("auto", "legacy"):
            opts["mode"] = value
        elif flag == "--memory-file":
            opts["memory_file"] = value
        else:
            raise ValueError(f"unknown option {flag} {value}")
    return opts


async def main(opts):
    scenario = Everything() if opts["scenario"] == "everything" else Memory(opts["memory_file"])
    report = Report(opts["scenario"], opts["mode"])
    command = opts["command"]
    server = StdioServerParameters(command=command[0], args=command[1:], env=dict(os.environ))
    client = Client(
        server,
        mode=opts["mode"],
        read_timeout_seconds=REQUEST_TIMEOUT_SECONDS,
        client_info=types.Implementation(name="agentk-interop-py", version="0.1.0"),
        **scenario.client_options(),
    )
    try:
        async with asyncio.timeout(SCENARIO_TIMEOUT_SECONDS):
            async with client:
                report.negotiated = client.protocol_version
                await report.check("scenario ran to its end", lambda: scenario.run(client, report))
    except Exception as error:  # the connection itself failed or the scenario ran out of time
        report.failures.append("connect and close")
        report.line({"check": "connect and close", "ok": False, "error": "".join(traceback.format_exception(error))})
    return 0 if report.summary() else 1


if __name__ == "__main__":
    try:
        parsed = parse(sys.argv[1:])
    except ValueError as problem:
        sys.exit(f"interop_client.py: {problem}\n{USAGE}")
    sys.exit(asyncio.run(main(parsed)))
