// The load generator of the benchmarks' stateful runs: Node's own http client, keep-alive, no packages.
//
//   node scripts/bench/driver.mjs '<JSON config>'     prints one JSON result on stdout
//
// `connections` virtual users loop for `warmup` + `seconds`; only what completes inside the
// measured window counts. Modes (the unit whose rate is reported in brackets):
//   flow      register -> authorize -> token -> refresh                       [flow]
//   mcp       initialize, then tools/call `tool` (with a token from one flow
//             when `flow` is given)                                           [tools/call]
// Each URL of `flow` may be a list, one per instance on one database: requests go round-robin.
// A Python driver tops out near 500 requests/s on two cores; this one does not
// (docs/decisions/0023-benchmarks.md).
import { createHash, randomBytes } from "node:crypto";
import http from "node:http";

const config = JSON.parse(process.argv[2]);
const agent = new http.Agent({ keepAlive: true, maxSockets: config.connections });
const UNITS = { flow: "flow", mcp: "tools/call" };
const unit = UNITS[config.mode];

let measuring = false;
let stopped = false;
const latencies = {}; // step -> [ms]
const errors = {}; // "step status" -> count
let firstError = null;

let completed = 0; // units completed, warm-up included: the server's CPU time is divided by it

function note(step, startedAt) {
  if (step === unit) completed++;
  if (!measuring) return;
  (latencies[step] ??= []).push(Number(process.hrtime.bigint() - startedAt) / 1e6);
}

function fail(step, what) {
  if (!measuring) return;
  const key = `${step} ${what}`;
  errors[key] = (errors[key] ?? 0) + 1;
  firstError ??= key;
}

// A URL, or a list of several instances' URLs: each request goes to the next instance in turn.
let turn = 0;
function pick(url) {
  return Array.isArray(url) ? url[turn++ % url.length] : url;
}

// One request on the shared keep-alive agent; "localhost" is dialled as 127.0.0.1, where our servers listen.
function send(step, method, url, { headers = {}, body } = {}) {
  const target = new URL(pick(url));
  const startedAt = process.hrtime.bigint();
  return new Promise((resolve) => {
    const request = http.request(
      {
        agent,
        method,
        host: target.hostname === "localhost" ? "127.0.0.1" : target.hostname,
        port: target.port,
        path: target.pathname + target.search,
        headers: { host: target.host, ...headers, ...(body ? { "content-length": Buffer.byteLength(body) } : {}) },
      },
      (response) => {
        const chunks = [];
        response.on("data", (chunk) => chunks.push(chunk));
        response.on("end", () => {
          note(step, startedAt);
          resolve({ status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks).toString() });
        });
      },
    );
    request.on("error", (error) => {
      fail(step, error.code ?? error.message);
      resolve(null);
    });
    request.end(body);
  });
}

function expect(step, response, status) {
  if (response === null) return false;
  if (response.status === status || (status === 302 && [302, 303, 307].includes(response.status))) return true;
  fail(step, response.status);
  return false;
}

const JSON_HEADERS = { "content-type": "application/json" };
const FORM_HEADERS = { "content-type": "application/x-www-form-urlencoded" };

async function register(flow) {
  const response = await send("register", "POST", flow.register, { headers: JSON_HEADERS, body: flow.clientJson });
  return expect("register", response, 201) ? JSON.parse(response.body).client_id : null;
}

// register -> authorize -> token: the client_id and the token response, or null.
async function obtainTokens(flow) {
  const clientId = await register(flow);
  if (clientId === null) return null;
  const verifier = randomBytes(32).toString("base64url");
  const query = new URLSearchParams({
    response_type: "code",
    client_id: clientId,
    redirect_uri: flow.redirect_uri,
    code_challenge: createHash("sha256").update(verifier).digest("base64url"),
    code_challenge_method: "S256",
    state: "bench",
  });
  const authorized = await send("authorize", "GET", `${pick(flow.authorize)}?${query}`);
  if (!expect("authorize", authorized, 302)) return null;
  const code = new URL(authorized.headers.location).searchParams.get("code");
  if (code === null) {
    fail("authorize", "no code");
    return null;
  }
  const form = new URLSearchParams({
    grant_type: "authorization_code",
    code,
    redirect_uri: flow.redirect_uri,
    client_id: clientId,
    code_verifier: verifier,
  });
  const tokens = await send("token", "POST", flow.token, { headers: FORM_HEADERS, body: form.toString() });
  return expect("token", tokens, 200) ? { clientId, tokens: JSON.parse(tokens.body) } : null;
}

async function refresh(flow, clientId, refreshToken) {
  const form = new URLSearchParams({ grant_type: "refresh_token", refresh_token: refreshToken, client_id: clientId });
  const response = await send("refresh", "POST", flow.token, { headers: FORM_HEADERS, body: form.toString() });
  return expect("refresh", response, 200) ? JSON.parse(response.body).refresh_token : null;
}

async function flowUser(flow) {
  while (!stopped) {
    const startedAt = process.hrtime.bigint();
    const obtained = await obtainTokens(flow);
    if (obtained === null) continue;
    if ((await refresh(flow, obtained.clientId, obtained.tokens.refresh_token)) !== null) note("flow", startedAt);
  }
}

function rpc(id, method, params) {
  return JSON.stringify({ jsonrpc: "2.0", ...(id === null ? {} : { id }), method, params });
}

async function mcpUser(mcp, flow) {
  const headers = { ...JSON_HEADERS, accept: "application/json, text/event-stream" };
  if (flow) {
    const obtained = await obtainTokens(flow);
    if (obtained === null) return;
    headers.authorization = `Bearer ${obtained.tokens.access_token}`;
  }
  const initialize = rpc(1, "initialize", {
    protocolVersion: mcp.protocol_version,
    capabilities: {},
    clientInfo: { name: "bench", version: "1" },
  });
  const opened = await send("initialize", "POST", mcp.url, { headers, body: initialize });
  if (!expect("initialize", opened, 200)) return;
  headers["mcp-session-id"] = opened.headers["mcp-session-id"];
  headers["mcp-protocol-version"] = mcp.protocol_version;
  const initialized = rpc(null, "notifications/initialized", {});
  if (!expect("initialized", await send("initialized", "POST", mcp.url, { headers, body: initialized }), 202)) return;
  for (let id = 2; !stopped; id++) {
    const body = rpc(id, "tools/call", { name: mcp.tool, arguments: {} });
    const called = await send("tools/call", "POST", mcp.url, { headers, body });
    if (expect("tools/call", called, 200) && (!called.body.includes('"result"') || called.body.includes('"isError":true')))
      fail("tools/call", "tool error");
  }
}

function user() {
  const flow = config.flow && { ...config.flow, clientJson: JSON.stringify(config.flow.client) };
  switch (config.mode) {
    case "flow":
      return flowUser(flow);
    case "mcp":
      return mcpUser(config.mcp, flow);
    default:
      throw new Error(`unknown mode ${config.mode}`);
  }
}

function percentile(sorted, p) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : null;
}

const users = Array.from({ length: config.connections }, user);
await new Promise((resolve) => setTimeout(resolve, (config.warmup ?? 1) * 1000));
measuring = true;
const startedAt = process.hrtime.bigint();
await new Promise((resolve) => setTimeout(resolve, config.seconds * 1000));
measuring = false;
const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
stopped = true;
await Promise.all(users);
agent.destroy();

const steps = {};
for (const [step, values] of Object.entries(latencies)) {
  values.sort((a, b) => a - b);
  steps[step] = { count: values.length, p50_ms: percentile(values, 50), p99_ms: percentile(values, 99) };
}
const count = steps[unit]?.count ?? 0;
const result = { mode: config.mode, unit, seconds, count, completed, rate: count / seconds, steps, errors };
console.log(JSON.stringify({ ...result, first_error: firstError }));
