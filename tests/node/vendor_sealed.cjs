// The vendor's published browser SDK (@orga-ai/core) starting a session against a backend,
// under Node, with the steps @orga-ai/react 1.0.5's connect() takes: fetch the session config,
// build a peer connection (a stand-in: Node has no WebRTC), offer, gather, connectToRealtime,
// take the answer.
//
//   node vendor_sealed.cjs CONFIG_JSON OUT_JSON
//
// CONFIG: {tokenUrl, appOrigin, cookie?, shim?, relayUrl?, baseUrl?, init?}
//   shim + relayUrl: load orga-relay-shim.js into the global scope and install it;
//   baseUrl: pass OrgaAI.init({baseUrl}); init: the rest of what the page asks OrgaAI.init.
// OUT: everything the "browser" side received and sent, for the test to search: every
//   exchange (request and response, headers and bodies), every request the loopback-only
//   fetch refused, the session config and the answer the SDK returned, the error if any.
// Exits 0 whenever the flow ran, failed or not (the failure is in OUT); 2 on a bad CONFIG.
"use strict";

const fs = require("node:fs");
const {
  StandInPeerConnection,
  StandInSessionDescription,
  installRecordingFetch,
} = require("./browser_side.cjs");

const [configJson, outPath] = process.argv.slice(2);
if (!configJson || !outPath) {
  console.error("usage: node vendor_sealed.cjs CONFIG_JSON OUT_JSON");
  process.exit(2);
}
const config = JSON.parse(configJson);
const recorded = installRecordingFetch({ appOrigin: config.appOrigin, cookie: config.cookie });
if (config.shim) {
  require(config.shim); // a classic script's effect: globalThis.installOrgaRelayShim
  globalThis.installOrgaRelayShim({ relayUrl: config.relayUrl });
}
const core = require("@orga-ai/core");
const sdkVersion = require("@orga-ai/core/package.json").version;

function gatherIceCandidates(pc) {
  // As the React hook does: candidates until gathering completes (bounded: 5 s).
  return new Promise((resolve) => {
    const candidates = [];
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener("icecandidate", onCandidate);
      resolve(candidates);
    };
    const onCandidate = (event) => {
      if (event.candidate) {
        const { candidate, sdpMid, sdpMLineIndex } = event.candidate;
        candidates.push({ candidate, sdpMid, sdpMLineIndex });
      } else if (pc.iceGatheringState === "complete") {
        done();
      }
    };
    const timer = setTimeout(done, 5000);
    pc.addEventListener("icecandidate", onCandidate);
  });
}

async function connect() {
  const init = { sessionConfigEndpoint: config.tokenUrl, logLevel: "debug", ...config.init };
  if (config.baseUrl) init.baseUrl = config.baseUrl;
  core.OrgaAI.init(init);
  const session = await core.OrgaAI.getConfig().fetchSessionConfig();
  out.sessionConfig = session;
  const pc = new StandInPeerConnection({
    iceServers: session.iceServers,
    iceTransportPolicy: "all",
    iceCandidatePoolSize: 0,
  });
  const audio = pc.addTransceiver("audio", { direction: "sendrecv" });
  const video = pc.addTransceiver("video", { direction: "sendonly" });
  await audio.sender.replaceTrack(null);
  await video.sender.replaceTrack(null);
  pc.createDataChannel("orga-realtime-client-events");
  const offer = await pc.createOffer({ offerToReceiveAudio: true, offerToReceiveVideo: false });
  await pc.setLocalDescription(offer);
  out.offer = pc.localDescription;
  out.gathered = await gatherIceCandidates(pc);
  const response = await core.connectToRealtime({
    ephemeralToken: session.ephemeralToken,
    peerConnection: pc,
    gathered: out.gathered,
  });
  out.result = response;
  await pc.setRemoteDescription(
    new StandInSessionDescription({ sdp: response.answer.sdp, type: response.answer.type }),
  );
  out.remoteDescription = pc.remoteDescription;
}

const out = { sdkVersion, sessionConfig: null, result: null, error: null };
connect()
  .catch((error) => {
    out.error = String(error && error.message ? error.message : error);
  })
  .finally(() => {
    out.exchanges = recorded.exchanges;
    out.blocked = recorded.blocked;
    fs.writeFileSync(outPath, JSON.stringify(out, null, 1));
  });
