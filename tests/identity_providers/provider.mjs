// A real OpenID provider for the federated sign-in tests (issue 16): panva's certified oidc-provider,
// installed into .tools by the Makefile, run by its Node 22.
//
//   node provider.mjs PORT CONFIG_JSON
//
// CONFIG_JSON: {"module": "<path of oidc-provider's lib/index.js>", "clients": [...]} with the clients as
// oidc-provider takes them (client_id, client_secret, redirect_uris, token_endpoint_auth_method).
// The issuer is http://127.0.0.1:PORT. PKCE is required (S256 only, RFC 7636), devInteractions are off:
// the sign-in page below is the provider's own, a plain form Chromium fills in (username, password).
// Grants are made without a consent prompt (a first-party provider): the tests sign in, nothing more.
// Prints "ready" once it listens.

import { createServer } from "node:http";
import { pathToFileURL } from "node:url";

const [port, configText] = process.argv.slice(2);
const config = JSON.parse(configText);
const { default: Provider } = await import(pathToFileURL(config.module).href);
const issuer = `http://127.0.0.1:${port}`;

const PASSWORD = "provider password";
const ACCOUNTS = {
  alice: { email: "alice@example.com", email_verified: true, name: "Alice Example", groups: ["mcp-users"] },
  mallory: { email: "mallory@elsewhere.test", email_verified: true, name: "Mallory", groups: [] },
};

const provider = new Provider(issuer, {
  clients: config.clients,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"], groups: ["groups"] },
  scopes: ["openid", "email", "profile", "groups"],
  cookies: { keys: ["federated-sign-in-tests"] },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    const account = ACCOUNTS[id];
    if (!account) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...account }) };
  },
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope("openid email profile groups");
    await grant.save();
    return grant;
  },
});

function page(res, status, body) {
  res.writeHead(status, { "content-type": "text/html; charset=utf-8" });
  res.end(`<!doctype html><title>Test provider</title><h1>Test provider</h1>${body}`);
}

async function form(req) {
  let body = "";
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

const callback = provider.callback();
createServer(async (req, res) => {
  const match = req.url.match(/^\/interaction\/([^/?]+)(\/login)?/);
  if (!match) return callback(req, res);
  try {
    const details = await provider.interactionDetails(req, res);
    if (req.method === "GET") {
      return page(
        res,
        200,
        `<form method="post" action="/interaction/${details.uid}/login">
           <label>Username <input name="username"></label>
           <label>Password <input name="password" type="password"></label>
           <button type="submit">Sign in at the provider</button>
         </form>`,
      );
    }
    const fields = await form(req);
    const username = fields.get("username");
    if (!ACCOUNTS[username] || fields.get("password") !== PASSWORD) {
      return page(res, 200, "<p>Wrong username or password.</p>");
    }
    await provider.interactionFinished(req, res, { login: { accountId: username } }, { mergeWithLastSubmission: false });
  } catch (error) {
    page(res, 400, `<p>${String(error.message).replace(/[<&]/g, "")}</p>`);
  }
}).listen(Number(port), "127.0.0.1", () => console.log("ready"));
