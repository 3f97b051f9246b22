"""The client command the MCP conformance harness runs: ``python scripts/conformance_client.py SERVER_URL``.

The harness (``conformance client --command ...``) starts one scenario's MCP server and
authorization server, appends that MCP server's URL to the command, and passes the scenario's
extra data as JSON in ``MCP_CONFORMANCE_CONTEXT`` (its name in ``MCP_CONFORMANCE_SCENARIO``).
This script maps that data to ``client.py``
options and runs ``client.py --headless`` with a store of its own, deleted afterwards: every
scenario starts from a client that has never seen a server. ``--headless`` follows the
scenario's authorization server's redirects itself, as its fixture approves without a person.

In the ``auth/`` scenarios the client calls ``test-tool`` after listing the tools, as the
harness's own example client does: a call is what meets a step-up challenge (CL-30).

The context's keys, by scenario (the harness's ``src/scenarios/client/auth/*.ts``):

- ``client_id``, ``client_secret`` (``auth/pre-registration``, ``auth/client-credentials-basic``):
  a pre-registered client, ``--client-id`` and ``--client-secret``;
- ``private_key_pem``, ``signing_algorithm`` (``auth/client-credentials-jwt``): ``private_key_jwt``
  client authentication, ``--private-key-file`` (written to the temporary folder, mode 0600)
  and ``--private-key-alg``;
- the ``auth/client-credentials-*`` scenarios use the client credentials grant, ``--grant
  client_credentials``;
- ``idp_token_endpoint``, ``idp_client_id``, ``idp_id_token`` (``auth/enterprise-managed-authorization``):
  ``--grant enterprise`` with the user's ID token in a file (``--subject-token-file``), SEP-990;
- ``valid_jwt`` (``auth/wif-jwt-bearer``): ``--grant workload`` with the workload's JWT in a file
  (``--assertion-file``), SEP-1933.

Without a pre-registered ``client_id`` the client offers the harness's client ID metadata
document URL, used where the scenario's server advertises ``client_id_metadata_document_supported``
(``auth/basic-cimd``), and registers dynamically elsewhere (CL-10).
"""

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mcp import Client

ROOT = Path(__file__).resolve().parent.parent
#: The client ID metadata document URL the harness's fixture authorization server accepts as is.
CIMD_CLIENT_METADATA_URL = "https://conformance-test.local/client-metadata.json"
CLIENT_CREDENTIALS_SCENARIOS = ("auth/client-credentials-basic", "auth/client-credentials-jwt")
#: The tool every authorization scenario's MCP server offers; calling it is what meets a step-up challenge.
AUTH_SCENARIO_TOOL = "test-tool"


#: The tools each scenario without authorization asks a client to call, in order, with their arguments
#: (the harness's scenario files and its example client, examples/clients/typescript/everything-client.ts).
#: A scenario whose context lists ``toolCalls`` (``http-custom-headers``) names them itself.
SCENARIO_CALLS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "tools_call": [("add_numbers", {"a": 2, "b": 3})],
    "elicitation-sep1034-client-defaults": [("test_client_elicitation_defaults", {})],
    "sse-retry": [("test_reconnection", {})],
    "http-invalid-tool-headers": [("valid_tool", {"region": "us-west1"})],
    "sep-2322-client-request-state": [
        ("test_mrtr_echo_state", {}),
        ("test_mrtr_unrelated", {}),
        ("test_mrtr_no_state", {}),
        ("test_mrtr_no_result_type", {}),
    ],
}


#: ``json-schema-2020-12-preservation`` (SEP-1613, SEP-2106): the focal tool whose inputSchema the client
#: echoes back verbatim through the echo tool, ``{"schema": <inputSchema as listed>}``.
SCHEMA_SCENARIO = "json-schema-2020-12-preservation"
SCHEMA_FOCAL_TOOL, SCHEMA_ECHO_TOOL = "json_schema_2020_12_tool", "json_schema_echo"


async def listed_input_schema(server_url: str, tool: str) -> dict[str, Any]:
    """``tool``'s inputSchema as the mcp SDK lists it, the SDK client.py runs on (no token: the scenario has none)."""
    async with Client(server_url) as client:
        listed = await client.list_tools()
    return next(item.input_schema for item in listed.tools if item.name == tool)


def tool_calls(scenario: str, context: Mapping[str, Any], server_url: str = "") -> list[str]:
    """``--call TOOL --args JSON`` for each tool the scenario (or its context's ``toolCalls``) asks for."""
    if scenario.startswith("auth/"):
        return ["--call", AUTH_SCENARIO_TOOL]
    if scenario == SCHEMA_SCENARIO:
        schema = asyncio.run(listed_input_schema(server_url, SCHEMA_FOCAL_TOOL))
        return ["--call", SCHEMA_ECHO_TOOL, "--args", json.dumps({"schema": schema})]
    listed = context.get("toolCalls")
    calls = (
        [(str(call["name"]), dict(call.get("arguments") or {})) for call in listed]
        if isinstance(listed, list)
        else SCENARIO_CALLS.get(scenario, [])
    )
    arguments: list[str] = []
    for tool, tool_arguments in calls:
        arguments += ["--call", tool, "--args", json.dumps(tool_arguments, ensure_ascii=False)]
    return arguments


def client_arguments(scenario: str, server_url: str, context: Mapping[str, Any], workdir: Path) -> list[str]:
    """The ``client.py`` options for one scenario, its files written to ``workdir``."""
    arguments = ["--server-url", server_url, "--headless", "--store", str(workdir / "store.json")]
    arguments += tool_calls(scenario, context, server_url)
    if scenario in CLIENT_CREDENTIALS_SCENARIOS:
        arguments += ["--grant", "client_credentials"]
    if "idp_id_token" in context:
        arguments += ["--grant", "enterprise", "--subject-token-file", _secret_file(workdir, "id_token", context)]
        arguments += ["--idp-token-endpoint", str(context["idp_token_endpoint"])]
        arguments += ["--idp-client-id", str(context["idp_client_id"])]
    if "valid_jwt" in context:
        arguments += ["--grant", "workload", "--assertion-file", _secret_file(workdir, "workload_jwt", context)]
    if "client_id" in context:
        arguments += ["--client-id", str(context["client_id"])]
    else:
        arguments += ["--client-metadata-url", CIMD_CLIENT_METADATA_URL]
    if "client_secret" in context:
        arguments += ["--client-secret", str(context["client_secret"])]
    if "private_key_pem" in context:
        key_file = workdir / "private_key.pem"
        key_file.touch(mode=0o600)
        key_file.write_text(str(context["private_key_pem"]))
        arguments += ["--private-key-file", str(key_file)]
        if context.get("signing_algorithm"):
            arguments += ["--private-key-alg", str(context["signing_algorithm"])]
    return arguments


def _secret_file(workdir: Path, name: str, context: Mapping[str, Any]) -> str:
    """The context's token (``idp_id_token`` or ``valid_jwt``) in a file of mode 0600; its path."""
    value = context["idp_id_token"] if name == "id_token" else context["valid_jwt"]
    path = workdir / name
    path.touch(mode=0o600)
    path.write_text(str(value))
    return str(path)


def main(argv: Sequence[str] = sys.argv[1:], environ: Mapping[str, str] = os.environ) -> int:
    if not argv:
        print("usage: conformance_client.py [ignored ...] SERVER_URL (the harness appends it)", file=sys.stderr)
        return 2
    context = json.loads(environ.get("MCP_CONFORMANCE_CONTEXT") or "{}")
    with tempfile.TemporaryDirectory(prefix="conformance-client-") as workdir:
        scenario = environ.get("MCP_CONFORMANCE_SCENARIO", "")
        arguments = client_arguments(scenario, argv[-1], context, Path(workdir))
        return subprocess.run([sys.executable, str(ROOT / "client.py"), *arguments], cwd=ROOT, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
