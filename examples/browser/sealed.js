// Start a sealed Orga session with the vendor's browser SDK, the way @orga-ai/react's
// connect() does: session config from our backend (the session cookie is the credential),
// a peer connection, an offer, then connectToRealtime. Sealed, the "ephemeralToken" the
// backend hands out is a single-use session handle, and the offer goes to the backend's
// relay, which starts the session with the real token and the server's session policy.
const status = document.getElementById("status");
const conversation = document.getElementById("conversation");
const GATHER_MS = 2000; // ICE gathering is cut short after this (the SDK's hook waits 5 s)

function gatherIceCandidates(pc) {
  return new Promise((resolve) => {
    const candidates = [];
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener("icecandidate", onCandidate);
      resolve(candidates);
    };
    const onCandidate = (event) => {
      if (!event.candidate) return done(); // null: gathering is complete
      const { candidate, sdpMid, sdpMLineIndex } = event.candidate;
      candidates.push({ candidate, sdpMid, sdpMLineIndex });
    };
    const timer = setTimeout(done, GATHER_MS);
    pc.addEventListener("icecandidate", onCandidate);
  });
}

async function start() {
  const { OrgaAI, connectToRealtime } = await import("@orga-ai/core");
  OrgaAI.init({
    sessionConfigEndpoint: "/api/orga-client-secrets",
    // Where a release that honours baseUrl sends the offer: the relay, {relay_prefix} in
    // front of /v1/realtime/calls. 1.0.0 ignores it; the shim in sealed.html covers that.
    baseUrl: new URL("/api/orga", location.href).href,
    // Asked for, not decided: the server's policy pins the instructions, allows some voices.
    instructions: document.getElementById("instructions").value,
    voice: document.getElementById("voice").value,
    logLevel: "warn",
  });
  const { ephemeralToken, iceServers } = await OrgaAI.getConfig().fetchSessionConfig();
  const pc = new RTCPeerConnection({ iceServers });
  // A real app adds the microphone (getUserMedia) here; the demo offers media without it.
  pc.addTransceiver("audio", { direction: "sendrecv" });
  pc.addTransceiver("video", { direction: "sendonly" });
  pc.createDataChannel("orga-realtime-client-events");
  await pc.setLocalDescription(await pc.createOffer());
  const gathered = await gatherIceCandidates(pc);
  const { conversation_id, answer } = await connectToRealtime({
    ephemeralToken, // a handle: worthless to anyone but our relay, and only once
    peerConnection: pc,
    gathered,
  });
  await pc.setRemoteDescription(answer);
  window.orgaPeer = pc;
  conversation.textContent = conversation_id;
  status.textContent = "connected";
}

document.getElementById("session").addEventListener("submit", (event) => {
  event.preventDefault();
  status.textContent = "connecting";
  start().catch((error) => {
    // "Failed to fetch session config: 401": log in first; "...realtime: 403": the policy
    // refused a parameter (the relay's JSON body names it).
    status.textContent = `error: ${error.message}`;
  });
});
status.textContent = "ready";
