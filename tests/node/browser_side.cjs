// What a browser gives the vendor SDK, for Node: a fetch that records every exchange and
// refuses the network beyond 127.0.0.1 (a cookie jar for the app's origin included), and a
// stand-in RTCPeerConnection doing what @orga-ai/react 1.0.5 asks of one.
"use strict";

const LOOPBACK = "127.0.0.1";

function headersOf(headers) {
  return Object.fromEntries([...headers].map(([name, value]) => [name.toLowerCase(), value]));
}

/**
 * Replace globalThis.fetch with a recording, loopback-only one. `cookie` is sent to
 * `appOrigin` only, as a browser's jar would send a session cookie.
 * Returns {exchanges, blocked}: every request that went out with its answer, and every
 * request refused (it never left the process).
 */
function installRecordingFetch({ appOrigin, cookie }) {
  const real = globalThis.fetch;
  const exchanges = [];
  const blocked = [];
  globalThis.fetch = async function recordingFetch(input, init) {
    const request = new Request(input, init);
    const url = new URL(request.url);
    const sent = {
      url: request.url,
      method: request.method,
      headers: headersOf(request.headers),
      body: request.body === null ? null : await request.clone().text(),
    };
    if (url.hostname !== LOOPBACK) {
      blocked.push(sent);
      throw new TypeError(`fetch failed: the test allows no network beyond ${LOOPBACK}`);
    }
    const headers = new Headers(request.headers);
    if (cookie && url.origin === appOrigin) headers.set("cookie", cookie);
    const response = await real(new Request(request, { headers }));
    exchanges.push({
      ...sent,
      headers: headersOf(headers), // as sent, the jar's cookie included
      status: response.status,
      responseHeaders: headersOf(response.headers),
      responseBody: await response.clone().text(),
    });
    return response;
  };
  return { exchanges, blocked };
}

function mlines(sdp) {
  return sdp.split(/\r?\n/).filter((line) => line.startsWith("m="));
}

function mids(sdp) {
  return sdp
    .split(/\r?\n/)
    .filter((line) => line.startsWith("a=mid:"))
    .map((line) => line.slice(6));
}

const CODECS = {
  audio: ["111", ["a=rtpmap:111 opus/48000/2", "a=fmtp:111 minptime=10;useinbandfec=1"]],
  video: ["96", ["a=rtpmap:96 VP8/90000", "a=rtcp-fb:96 nack", "a=rtcp-fb:96 nack pli"]],
};

/** A stand-in RTCPeerConnection: the members the vendor SDKs use, with a Chromium-like SDP. */
class StandInPeerConnection extends EventTarget {
  constructor(configuration = {}) {
    super();
    this.configuration = configuration;
    this.transceivers = [];
    this.channels = [];
    this.localDescription = null;
    this.remoteDescription = null;
    this.iceGatheringState = "new";
    this.signalingState = "stable";
    this.connectionState = "new";
  }

  getConfiguration() {
    return this.configuration;
  }

  addTransceiver(kind, init = {}) {
    const sender = { track: null, async replaceTrack(track) { this.track = track; } };
    const transceiver = { kind, direction: init.direction || "sendrecv", sender };
    this.transceivers.push(transceiver);
    return transceiver;
  }

  createDataChannel(label) {
    const channel = new EventTarget();
    channel.label = label;
    channel.readyState = "connecting";
    channel.close = () => { channel.readyState = "closed"; };
    this.channels.push(channel);
    return channel;
  }

  async createOffer() {
    const lines = ["v=0", "o=- 4611731400430051336 2 IN IP4 127.0.0.1", "s=-", "t=0 0"];
    const sections = this.transceivers.map((t) => t.kind);
    if (this.channels.length) sections.push("application");
    lines.push("a=group:BUNDLE " + sections.map((_, mid) => String(mid)).join(" "));
    lines.push("a=msid-semantic: WMS");
    sections.forEach((kind, mid) => {
      const common = [
        "c=IN IP4 0.0.0.0",
        "a=ice-ufrag:Q0tZ",
        "a=ice-pwd:ra0TRnTTBHrTo6bYQ4WDe4Yh",
        "a=ice-options:trickle",
        "a=fingerprint:sha-256 3B:2C:9A:7E:11:0F:5D:42:8B:6E:C1:90:AA:73:25:E8:04:DF:61:B7:3A:9C:58:20:FE:47:13:8D:C6:0B:92:5A",
        "a=setup:actpass",
        `a=mid:${mid}`,
      ];
      if (kind === "application") {
        lines.push("m=application 9 UDP/DTLS/SCTP webrtc-datachannel", ...common);
        lines.push("a=sctp-port:5000", "a=max-message-size:262144");
        return;
      }
      const [payload, attributes] = CODECS[kind];
      lines.push(`m=${kind} 9 UDP/TLS/RTP/SAVPF ${payload}`, "a=rtcp:9 IN IP4 0.0.0.0", ...common);
      lines.push(`a=${this.transceivers[mid].direction}`, "a=rtcp-mux", ...attributes);
    });
    return { type: "offer", sdp: lines.join("\r\n") + "\r\n" };
  }

  async setLocalDescription(description) {
    this.localDescription = { type: description.type, sdp: description.sdp };
    this.signalingState = "have-local-offer";
    // Gathering, as a browser does after setLocalDescription: host candidates, then null.
    this.iceGatheringState = "gathering";
    setTimeout(() => {
      mids(this.localDescription.sdp).forEach((mid, index) => {
        const candidate = {
          candidate: `candidate:1 1 udp 2122260223 127.0.0.1 ${50000 + index} typ host generation 0`,
          sdpMid: mid,
          sdpMLineIndex: index,
        };
        this.dispatchEvent(Object.assign(new Event("icecandidate"), { candidate }));
      });
      this.iceGatheringState = "complete";
      this.dispatchEvent(Object.assign(new Event("icecandidate"), { candidate: null }));
    }, 0);
  }

  async setRemoteDescription(description) {
    // What a browser checks before it takes an answer: an answer to our offer, m-line for
    // m-line, mid for mid.
    const offer = this.localDescription && this.localDescription.sdp;
    const sdp = String(description.sdp || "");
    const problems = [];
    if (this.signalingState !== "have-local-offer") problems.push("no local offer");
    if (description.type !== "answer") problems.push(`type is ${description.type}`);
    if (!sdp.startsWith("v=0")) problems.push("not an SDP");
    if (offer && mlines(sdp).length !== mlines(offer).length) problems.push("m-lines differ");
    if (offer && mids(sdp).join() !== mids(offer).join()) problems.push("mids differ");
    if (problems.length) {
      throw new Error(`Failed to set remote answer sdp: ${problems.join(", ")}`);
    }
    this.remoteDescription = { type: description.type, sdp };
    this.signalingState = "stable";
  }

  close() {
    this.connectionState = "closed";
  }
}

class StandInSessionDescription {
  constructor({ type, sdp }) {
    this.type = type;
    this.sdp = sdp;
  }
}

module.exports = { StandInPeerConnection, StandInSessionDescription, installRecordingFetch };
