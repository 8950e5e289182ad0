// Ask our own backend for Orga credentials (the session cookie is the credential), then
// hand the ICE servers to WebRTC. The Orga browser SDK does the same when given
// sessionConfigEndpoint: "/api/orga-client-secrets".
const status = document.getElementById("status");
const iceServers = document.getElementById("ice-servers");

async function connect() {
  const response = await fetch("/api/orga-client-secrets", { credentials: "same-origin" });
  const body = await response.json();
  if (!response.ok) {
    status.textContent = body.error; // "unauthorized" until you log in
    return;
  }
  // The constructor throws if the browser refuses the servers (a bad URL, TURN without
  // credentials), so getting past it means WebRTC took what the backend sent.
  const peer = new RTCPeerConnection({ iceServers: body.iceServers });
  iceServers.textContent = String(peer.getConfiguration().iceServers.length);
  // Next, a real app creates an offer on this connection and sends it to Orga with
  // body.ephemeralToken, before body.expiresAt. Never log or store the token.
  window.orgaPeer = peer;
  status.textContent = "ok";
}

connect().catch((error) => {
  status.textContent = `error: ${error.message}`;
});
