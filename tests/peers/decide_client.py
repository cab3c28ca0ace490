#!/usr/bin/env python3
"""Drives `agentk mcp-server` with the official Python MCP SDK client (PyPI `mcp`), for
crates/agentk-cli/tests/mcp_server.rs. Install with .ci/peers.

Usage: decide_client.py PLAN_JSON COMMAND [ARGS...]
  PLAN_JSON: {"mode": "auto" | "legacy", "calls": [{"name": "decide", "arguments": {...}}, ...]}
  `auto` (the SDK's default) first probes `server/discover` (the 2026-07-28 era) and falls back
  to the initialize handshake; `legacy` starts with initialize.
Prints one JSON object on stdout: what the server answered, for the test to judge:
  {"negotiated", "serverInfo", "tools", "calls": [{"name", "result"} | {"name", "error"}]}
Exits 0 when the session ran (a tool error or a JSON-RPC error is reported, not fatal).
"""

import asyncio
import json
import sys

from mcp import Client, StdioServerParameters

TIMEOUT_SECONDS = 8.0


def dump(model):
    """A pydantic model as the JSON the server sent (camelCase, nothing unset)."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


async def main(plan, command, args):
    server = StdioServerParameters(command=command, args=args)
    report = {"calls": []}
    async with Client(server, mode=plan.get("mode", "auto"), read_timeout_seconds=TIMEOUT_SECONDS) as client:
        report["negotiated"] = client.protocol_version
        report["serverInfo"] = dump(client.server_info) if client.server_info else None
        report["tools"] = [dump(tool) for tool in (await client.list_tools()).tools]
        for call in plan.get("calls", []):
            try:
                result = await client.call_tool(call["name"], call.get("arguments"))
                report["calls"].append({"name": call["name"], "result": dump(result)})
            except Exception as error:  # a JSON-RPC error answer
                report["calls"].append({"name": call["name"], "error": {"message": repr(error)}})
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: decide_client.py PLAN_JSON COMMAND [ARGS...]")
    asyncio.run(asyncio.wait_for(main(json.loads(sys.argv[1]), sys.argv[2], sys.argv[3:]), 3 * TIMEOUT_SECONDS))
