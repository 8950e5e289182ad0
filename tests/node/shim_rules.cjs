// orga-relay-shim.js under Node: what the wrapped fetch receives for each call.
//
//   node shim_rules.cjs SHIM_PATH CASES_JSON
//
// CASES: [{relayUrl, input: {type: "string"|"url"|"request", url, init?}, init?, abort?, real?}]
//   or {lifecycle: true} (install, reinstall, uninstall, bad options).
//   Each case installs the shim (relayUrl) on its own target whose fetch records what it was
//   called with, calls target.fetch(input, init), and reports that record; with real: true
//   the target is the global object and its fetch the real one (the URLs must be loopback).
// Prints [{calls: [...], error}] (one entry per case) as JSON on stdout.
"use strict";

const [shimPath, casesJson] = process.argv.slice(2);
const { installOrgaRelayShim, ORGA_CALLS_URL } = require(shimPath);

function headersOf(headers) {
  if (headers === undefined) return null;
  return Object.fromEntries([...new Headers(headers)].map(([k, v]) => [k.toLowerCase(), v]));
}

async function bodyText(body) {
  if (body === undefined || body === null) return null;
  if (typeof body === "string") return body;
  return new TextDecoder().decode(body instanceof ArrayBuffer ? body : await new Response(body).arrayBuffer());
}

function build(input) {
  if (input.type === "url") return new URL(input.url);
  if (input.type === "request") return new Request(input.url, input.init);
  return input.url;
}

async function describeInput(arg, original) {
  const same = arg === original;
  if (arg instanceof Request) {
    return {
      type: "request",
      same,
      url: arg.url,
      method: arg.method,
      headers: headersOf(arg.headers),
      body: arg.body === null ? null : await arg.clone().text(),
    };
  }
  return { type: arg instanceof URL ? "url" : typeof arg, same, url: String(arg) };
}

function signalOf(arg, original, input) {
  // Whose signal reached fetch: the caller's init's, the caller's Request's, or none.
  if (arg.signal === undefined) return null;
  if (original && arg.signal === original.signal) return "init";
  if (input instanceof Request && arg.signal === input.signal) return "request";
  return "other";
}

async function describeInit(arg, original, input) {
  if (arg === undefined) return null;
  return {
    same: arg === original,
    keys: Object.keys(arg).sort(),
    method: arg.method === undefined ? null : arg.method,
    headers: headersOf(arg.headers),
    body: await bodyText(arg.body),
    signal: signalOf(arg, original, input),
  };
}

async function runCase(spec) {
  const calls = [];
  const input = build(spec.input);
  // abort: the caller's signal, already aborted (JSON cannot carry one).
  const init = spec.abort ? { ...spec.init, signal: AbortSignal.abort() } : spec.init;
  let target;
  if (spec.real) {
    target = globalThis;
  } else {
    target = {
      async fetch(arg, options) {
        calls.push({
          thisIsTarget: this === target,
          argc: arguments.length,
          input: await describeInput(arg, input),
          init: await describeInit(options, init, input),
        });
        return new Response("recorded");
      },
    };
  }
  const uninstall = installOrgaRelayShim({ relayUrl: spec.relayUrl, target });
  try {
    const response = init === undefined ? await target.fetch(input) : await target.fetch(input, init);
    return { calls, status: response.status, body: await response.text(), error: null };
  } catch (error) {
    return { calls, status: null, body: null, error: `${error.name}: ${error.message}` };
  } finally {
    uninstall();
  }
}

async function lifecycle() {
  // Install, reinstall, uninstall: the target's own fetch comes back, wrapped at most once,
  // and a wrapper someone installed over ours is never unwrapped by our uninstall.
  const own = async () => new Response("own");
  const target = { fetch: own };
  installOrgaRelayShim({ relayUrl: "http://127.0.0.1:1/a", target });
  const first = target.fetch;
  const uninstall = installOrgaRelayShim({ relayUrl: "http://127.0.0.1:1/b", target });
  const second = target.fetch;
  uninstall();
  const restored = target.fetch === own; // so the second install had replaced the first
  const undo = installOrgaRelayShim({ relayUrl: "http://127.0.0.1:1/c", target });
  const theirs = async () => new Response("theirs");
  target.fetch = theirs;
  undo();
  const refused = [];
  const attempts = [
    { relayUrl: undefined, target: { fetch: own } },
    { relayUrl: "", target: { fetch: own } },
    { relayUrl: 42, target: { fetch: own } },
    { relayUrl: "/x", target: {} },
  ];
  for (const options of attempts) {
    try {
      installOrgaRelayShim(options);
      refused.push("accepted");
    } catch (error) {
      refused.push(error.name);
    }
  }
  return {
    wrapped: first !== own && second !== first,
    restored,
    theirsKept: target.fetch === theirs,
    refused,
    global: typeof globalThis.installOrgaRelayShim === "function",
    vendorUrl: ORGA_CALLS_URL,
  };
}

(async () => {
  const cases = JSON.parse(casesJson);
  const results = [];
  for (const spec of cases) {
    results.push(spec.lifecycle ? await lifecycle() : await runCase(spec));
  }
  process.stdout.write(JSON.stringify(results));
})();
