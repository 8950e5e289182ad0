/*! orga-relay-shim.js, from orga-asgi (MIT) */
/**
 * Sends the Orga browser SDK's session start to your backend's relay instead of to Orga.
 *
 * Why: with sealed sessions (`OrgaClientSecrets(sealed=True)`), the token route hands the
 * browser a single-use session handle, not an Orga token, and the backend starts the
 * session itself at its relay, `POST {relay_prefix}/v1/realtime/calls` (default
 * `/api/orga/v1/realtime/calls`), with the server's session policy applied. The vendor SDK
 * takes `OrgaAI.init({baseUrl})` for that, but `@orga-ai/core` 1.0.0 (the only release on
 * npm, the one `@orga-ai/react` 1.0.5 uses) ignores `baseUrl` and posts the offer to the
 * hard-coded `https://api.orga-ai.com/v1/realtime/calls`. This shim bridges that gap.
 *
 * What it does: it wraps `fetch` on the global object. A POST to exactly
 * `https://api.orga-ai.com/v1/realtime/calls` goes to `relayUrl` instead, with the same
 * method, headers, body, signal and other options. Every other request (another URL, another
 * method, that URL with a query or a fragment) reaches the original `fetch` untouched: the
 * same arguments, the same `this`. Nothing else is patched, nothing is logged or stored.
 *
 * Use it in one of three ways, before the SDK's first connect (the SDK looks `fetch` up when
 * it calls it, so loading this before or after the SDK makes no difference):
 *
 *   <!-- a classic script, configured by its data attribute (no inline script: CSP-friendly) -->
 *   <script src="/static/orga-relay-shim.js" data-relay-url="/api/orga/v1/realtime/calls"></script>
 *
 *   // an ES module (the file sets globalThis.installOrgaRelayShim)
 *   import "/static/orga-relay-shim.js";
 *   globalThis.installOrgaRelayShim({ relayUrl: "/api/orga/v1/realtime/calls" });
 *
 *   // CommonJS (Node, bundlers)
 *   const { installOrgaRelayShim } = require("./orga-relay-shim.js");
 *   installOrgaRelayShim({ relayUrl: "https://your.app/api/orga/v1/realtime/calls" });
 *
 * `installOrgaRelayShim({relayUrl, target})` returns a function that uninstalls it. `target`
 * (default: the global object) is whatever holds the `fetch` to wrap. Installing again on
 * the same target replaces the previous install.
 *
 * When to drop it: as soon as your `@orga-ai/core` honours `baseUrl` (the vendor's source
 * on main builds `${baseUrl}/v1/realtime/calls`; no npm release does as of 1.0.0), delete
 * this script and pass `OrgaAI.init({ baseUrl: "https://your.app/api/orga", ... })`. Until
 * you do, it stays harmless beside such a release: the SDK no longer calls the Orga URL, so
 * the shim never rewrites anything.
 */
(function (root) {
  "use strict";

  var ORGA_CALLS_URL = "https://api.orga-ai.com/v1/realtime/calls";
  var INSTALLED = typeof Symbol === "function" ? Symbol.for("orga-relay-shim") : "__orgaRelayShim";

  function requestLike(input) {
    return typeof Request === "function" && input instanceof Request;
  }

  function base() {
    // Relative URLs resolve against the page, as fetch resolves them; Node has no page.
    return root.location && typeof root.location.href === "string" ? root.location.href : undefined;
  }

  function isOrgaCall(input, init) {
    var method = init && init.method !== undefined ? init.method : requestLike(input) ? input.method : "GET";
    if (String(method).toUpperCase() !== "POST") return false;
    var href = requestLike(input) ? input.url : String(input);
    try {
      // href: the parsed, normalized URL (host case, default port), query and fragment kept.
      return new URL(href, base()).href === ORGA_CALLS_URL;
    } catch (error) {
      return false; // not a URL: the original fetch reports that itself
    }
  }

  async function requestOptions(request, init) {
    // A Request's body is a stream; re-sending a stream needs HTTP/2 in browsers, so send its
    // bytes. Everything else the Request carries goes along; init, as for fetch, wins.
    var options = {
      method: request.method,
      headers: request.headers,
      signal: request.signal,
      credentials: request.credentials,
      cache: request.cache,
      redirect: request.redirect,
      referrer: request.referrer,
      referrerPolicy: request.referrerPolicy,
      integrity: request.integrity,
      keepalive: request.keepalive,
    };
    if (request.mode !== "navigate") options.mode = request.mode;
    if (!(init && "body" in init)) options.body = await request.arrayBuffer();
    return Object.assign(options, init);
  }

  function installOrgaRelayShim(options) {
    var relayUrl = options && options.relayUrl;
    var target = (options && options.target) || root;
    if (!(typeof relayUrl === "string" && relayUrl) && !(typeof URL === "function" && relayUrl instanceof URL)) {
      throw new TypeError("installOrgaRelayShim: relayUrl must be a URL, e.g. \"/api/orga/v1/realtime/calls\"");
    }
    relayUrl = String(relayUrl);
    if (typeof target.fetch !== "function") {
      throw new TypeError("installOrgaRelayShim: the target has no fetch to wrap");
    }
    if (target.fetch[INSTALLED]) target.fetch[INSTALLED].uninstall();
    var original = target.fetch;

    function fetch(input, init) {
      if (!isOrgaCall(input, init)) return original.apply(this, arguments);
      if (!requestLike(input)) return original.call(this, relayUrl, init);
      var self = this;
      return requestOptions(input, init).then(function (merged) {
        return original.call(self, relayUrl, merged);
      });
    }

    function uninstall() {
      // Only while nobody wrapped fetch after us: unwrapping them would drop their wrapper.
      if (target.fetch === fetch) target.fetch = original;
    }

    fetch[INSTALLED] = { relayUrl: relayUrl, uninstall: uninstall };
    target.fetch = fetch;
    return uninstall;
  }

  installOrgaRelayShim.ORGA_CALLS_URL = ORGA_CALLS_URL;
  root.installOrgaRelayShim = installOrgaRelayShim;
  if (typeof module === "object" && module && module.exports) {
    module.exports = { installOrgaRelayShim: installOrgaRelayShim, ORGA_CALLS_URL: ORGA_CALLS_URL };
  }

  // A classic <script data-relay-url="..."> installs itself (currentScript is null in modules).
  var script = root.document && root.document.currentScript;
  var configured = script && script.dataset && script.dataset.relayUrl;
  if (configured) installOrgaRelayShim({ relayUrl: configured });
})(typeof globalThis !== "undefined" ? globalThis : this);
