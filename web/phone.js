// siplab's browser phone: one page, two SIP libraries.
//
// phone.html?lib=jssip loads JsSIP (https://jssip.net), phone.html?lib=sipjs
// loads SIP.js (https://sipjs.com). Both carry SIP over a WebSocket
// (RFC 7118: a browser cannot open UDP or TCP sockets) and audio over WebRTC
// (ICE, DTLS-SRTP, Opus), peer to peer: the SIP server only signals.
//
// Whichever library is loaded, the page offers the same small API on
// `window.phone`, which siplab's tests drive through playwright and which the
// buttons of phone.html use too:
//
//   await phone.register({uri, password, wsUrl})  -> {ok, status, reason, cause}
//   await phone.message(target, text)             -> {ok, status, reason, cause}
//   phone.messages                                -> [{from, body, contentType}]
//   phone.onMessage = (m) => ...                  (called for each one as well)
//   await phone.call(target, {video, data})       -> {ok, status, reason, cause}
//   await phone.answer({video})                   -> {ok, status, reason, cause}
//   await phone.hangup()
//   await phone.stats()   -> {packetsReceived, packetsSent, audioLevel, totalAudioEnergy,
//                             codec, dtlsState, srtpCipher, remoteInbound, video: {...},
//                             ...} of the
//                             current or last call (null before any)
//   phone.state           -> "idle" | "calling" | "ringing" | "established"
//   phone.lastCall        -> {ok, status, reason, cause} of the call that ended last
//   phone.log             -> [{t, event, detail}]: everything that happened, in order
//   await phone.stop()                            (unregister, close the WebSocket)
//
// Video and data: `video: true` adds the camera to the call (a test
// browser's fake camera draws a moving pattern); `data: true` makes the
// caller open a data channel before its offer (RFC 8831), and the answerer
// takes the one the offer brings (DataLink below, which also says how a file
// travels):
//
//   await phone.channelOpen()                     (resolves once the channel is open)
//   phone.sendText(text);  phone.sendFile(name, base64)
//   phone.received        -> {texts: [...], files: [{name, size, base64}]}
//
// A browser speaks WebRTC only. An incoming INVITE whose offer is plain RTP
// (RTP/AVP: a SIP phone such as baresip) cannot be answered, and the lab
// server relays no media, so the page refuses it at once, deliberately, with
// 488 Not Acceptable Here and a Warning saying why (RFC 3261 §21.4.26,
// §20.43), the words siplab's own user agents use. The page never rings
// (SIP.js has sent its own 180 Ringing by then, JsSIP lets the page refuse first).
//
// A result's `status` and `reason` are the SIP response's (403 "Forbidden")
// or null when there was none (a timeout, a closed connection); `cause` is
// the library's own word for what happened (JsSIP's "Rejected", SIP.js's
// registerer state...). The two adapter classes below are deliberately
// written side by side so you can compare how the two libraries say the
// same thing.

"use strict";

// Audio, and video when asked: the fake capture devices of a test browser
// play a beep and draw a moving pattern.
function media(video = false) {
  return { audio: true, video: Boolean(video) };
}
// No STUN or TURN server: the lab runs on one machine (or one LAN), and a
// public STUN server (SIP.js asks Google's by default) is unreachable there
// and would only delay ICE gathering.
const PC_CONFIG = { iceServers: [] };

// The refusal of an offer the page cannot answer (see the top of this file).
const NO_COMMON_PATH = "no common media path";
const NO_MEDIA_RELAY = "LabServer relays no media, so both ends need the same media path";

// The transport protocol of the offer's first live m= line when it is not
// WebRTC's (UDP/TLS/RTP/SAVPF, or UDP/DTLS/SCTP for a data channel), else
// null: the offer is WebRTC, or there is none (an INVITE without SDP).
function plainProto(sdp) {
  const live = [...String(sdp ?? "").matchAll(/^m=\S+ (\d+)(?:\/\d+)? (\S+)/gm)]
    .filter((m) => m[1] !== "0");
  if (live.length === 0) return null;
  const proto = live[0][2];
  return /^(UDP\/TLS\/RTP\/SAVPF?|(UDP\/)?DTLS\/SCTP)$/.test(proto) ? null : proto;
}

// The 488 and its Warning (code 304, "media type not available") for such an offer.
function pathRefusal(proto) {
  const text = `${NO_COMMON_PATH}: the offer is plain RTP (SIP phones), ${proto}; ` +
    `this user agent answers WebRTC (browsers: ICE, DTLS-SRTP) only. ${NO_MEDIA_RELAY}`;
  return {
    status: 488,
    reason: "Not Acceptable Here",
    warning: `Warning: 304 siplab-phone "${text}"`,
    result: failed(488, "Not Acceptable Here", text),
  };
}

function ok(status = null, reason = null, cause = null) {
  return { ok: true, status, reason, cause };
}

function failed(status = null, reason = null, cause = null) {
  return { ok: false, status, reason, cause };
}

// ---------------------------------------------------------------------------
// A call's WebRTC data channel (RFC 8831): text, and files.
//
// A data channel carries messages, each arriving whole and in order, as text
// (a string) or binary (an ArrayBuffer); there is no file transfer in the
// protocol. siplab (siplab/aio/webrtc_data.py) and this page use the
// convention of the browser demos: one text message with a JSON header
//   {"type": "file", "name": "notes.txt", "size": 16384}
// then the bytes in binary messages of at most 16 KiB (the size every browser
// takes in one message) until `size` bytes have come. Any other text is a
// message.
//
// The offerer opens the channel before its offer (so that the offer has an
// m=application line); the answerer gets it from its RTCPeerConnection's
// "datachannel" event. Either way the phone hands it to DataLink.use().

const CHUNK = 16 * 1024;

class DataLink {
  constructor(record) {
    this.record = record; // (event, detail) => the phone's log
    this.channel = null;
    this.texts = [];
    this.files = []; // {name, size, base64}
    this.incoming = null; // {name, size, parts, got} while a file arrives
    this.waiting = []; // opened() promises
  }

  use(channel) {
    this.channel = channel;
    channel.binaryType = "arraybuffer"; // binary messages as ArrayBuffers, not Blobs
    this.record("data channel", `"${channel.label}" ${channel.readyState}`);
    const open = () => {
      this.record("data channel open", channel.label);
      const waiting = this.waiting;
      this.waiting = [];
      waiting.forEach((resolve) => resolve());
    };
    if (channel.readyState === "open") open();
    else channel.addEventListener("open", open);
    channel.addEventListener("message", ({ data }) => this.received(data));
  }

  // Resolves once the channel is open (it may not have arrived yet).
  opened() {
    if (this.channel?.readyState === "open") return Promise.resolve();
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  received(data) {
    if (typeof data === "string") {
      const header = fileHeader(data);
      if (header) {
        this.incoming = { name: header.name, size: header.size, parts: [], got: 0 };
        if (header.size === 0) this.fileDone();
      } else {
        this.texts.push(data);
        this.record("data text", data);
      }
      return;
    }
    const file = this.incoming;
    if (!file) {
      this.record("data bytes", `${data.byteLength} bytes outside a file`);
      return;
    }
    file.parts.push(new Uint8Array(data));
    file.got += data.byteLength;
    if (file.got >= file.size) this.fileDone();
  }

  fileDone() {
    const { name, size, parts } = this.incoming;
    this.incoming = null;
    const bytes = new Uint8Array(size);
    let at = 0;
    for (const part of parts) {
      bytes.set(part.subarray(0, size - at), at);
      at += part.length;
    }
    this.files.push({ name, size, base64: toBase64(bytes) });
    this.record("data file", `${name}, ${size} bytes`);
  }

  sendText(text) {
    this.channel.send(text);
    this.record("data sent", text);
  }

  // Send a file: its bytes as base64 (which is how playwright hands them over).
  sendFile(name, base64) {
    const bytes = fromBase64(base64);
    this.channel.send(JSON.stringify({ type: "file", name, size: bytes.length }));
    for (let at = 0; at < bytes.length; at += CHUNK) {
      this.channel.send(bytes.slice(at, at + CHUNK));
    }
    this.record("data file sent", `${name}, ${bytes.length} bytes`);
  }
}

// {name, size} if `text` is a file header, else null (plain text).
function fileHeader(text) {
  try {
    const header = JSON.parse(text);
    if (header?.type === "file" && Number.isInteger(header.size) && header.size >= 0) {
      return { name: String(header.name), size: header.size };
    }
  } catch {
    // not JSON: a message
  }
  return null;
}

function toBase64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

function fromBase64(base64) {
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

// What both adapters share: the log, received messages, audio and stats.
class BasePhone {
  constructor(lib) {
    this.lib = lib;
    this.log = [];
    this.messages = [];
    this.onMessage = null;
    this.state = "idle";
    this.lastCall = null;
    this.waiting = [];
    this.onLog = null; // phone.html redraws its log here
    this.started = performance.now();
    this.data = new DataLink((event, detail) => this.record(event, detail));
  }

  record(event, detail = "") {
    const t = Math.round(performance.now() - this.started);
    this.log.push({ t, event, detail: String(detail) });
    console.log(`[${this.lib} +${t} ms] ${event} ${detail}`);
    if (this.onLog) this.onLog();
  }

  gotMessage(from, body, contentType) {
    const message = { from, body, contentType };
    this.messages.push(message);
    this.record("message received", `from ${from}: ${body}`);
    if (this.onMessage) this.onMessage(message);
  }

  // A promise for how the call in progress turns out: up, or over.
  outcome() {
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  settle(result) {
    const waiting = this.waiting;
    this.waiting = [];
    waiting.forEach((resolve) => resolve(result));
  }

  callEstablished(who, pc) {
    this.state = "established";
    this.record("established", who);
    this.playRemoteAudio(pc);
    this.settle(ok(200, "OK", "established"));
  }

  // Refuse an offer on the plain path (see pathRefusal); true if we did.
  refusePlainOffer(who, sdp, refuse) {
    const proto = plainProto(sdp);
    if (proto === null) return false;
    const refusal = pathRefusal(proto);
    this.record("refused call", `from ${who}: ${proto} offer, 488 (${NO_COMMON_PATH})`);
    refuse(refusal);
    this.lastCall = refusal.result;
    return true;
  }

  callEnded(result) {
    this.state = "idle";
    this.lastCall = result;
    this.record("call ended", JSON.stringify(result));
    this.settle(result);
  }

  // Play what the other side sends, so the browser decodes it as a phone would.
  playRemoteAudio(pc) {
    const tracks = pc.getReceivers().map((r) => r.track).filter((t) => t);
    const audio = tracks.filter((t) => t.kind === "audio");
    const video = tracks.filter((t) => t.kind === "video");
    document.getElementById("remote-audio").srcObject = new MediaStream(audio);
    if (video.length) document.getElementById("remote-video").srcObject = new MediaStream(video);
  }

  // --- the data channel (DataLink) -------------------------------------------

  // A new call: a new link, empty, waiting for the call's channel.
  newDataLink() {
    this.data = new DataLink((event, detail) => this.record(event, detail));
  }

  // Take the call's data channel: ours (we offered) or theirs (it came in the offer).
  useChannel(channel) {
    this.data.use(channel);
  }

  get channel() {
    return this.data.channel;
  }

  get received() {
    return { texts: this.data.texts, files: this.data.files };
  }

  channelOpen() {
    return this.data.opened();
  }

  sendText(text) {
    this.data.sendText(text);
  }

  sendFile(name, base64) {
    this.data.sendFile(name, base64);
  }

  // The numbers a student would read in chrome://webrtc-internals, from the
  // standard getStats() report (W3C webrtc-stats): RTP packets of the audio
  // stream in each direction, and the level of the audio received.
  // Also the transport (DTLS state, the SRTP cipher DTLS agreed, RFC 5764), the
  // video stream in each direction (frames decoded and encoded), and what the
  // peer's RTCP receiver reports say of the audio we send (remote-inbound-rtp,
  // RFC 3550 §6.4.1: its losses, jitter in seconds, the round-trip time).
  async stats() {
    const pc = this.peerConnection();
    if (!pc) return null;
    const result = {
      connectionState: pc.connectionState,
      packetsReceived: 0,
      packetsSent: 0,
      bytesReceived: 0,
      audioLevel: null,
      totalAudioEnergy: null,
      codec: null,
      dtlsState: null,
      srtpCipher: null,
      remoteInbound: null,
      video: { framesDecoded: 0, frameWidth: null, frameHeight: null, framesEncoded: 0,
        codec: null },
    };
    const report = await pc.getStats();
    report.forEach((s) => {
      if (s.type === "transport") {
        result.dtlsState = s.dtlsState ?? null;
        result.srtpCipher = s.srtpCipher ?? null;
        return;
      }
      if (s.kind === "video" && s.type === "inbound-rtp") {
        result.video.framesDecoded = s.framesDecoded ?? 0;
        result.video.frameWidth = s.frameWidth ?? null;
        result.video.frameHeight = s.frameHeight ?? null;
        const codec = s.codecId && report.get(s.codecId);
        if (codec) result.video.codec = codec.mimeType;
        return;
      }
      if (s.kind === "video" && s.type === "outbound-rtp") {
        result.video.framesEncoded += s.framesEncoded ?? 0;
        return;
      }
      if (s.kind !== "audio" && s.mediaType !== "audio") return;
      if (s.type === "inbound-rtp") {
        result.packetsReceived = s.packetsReceived;
        result.bytesReceived = s.bytesReceived;
        result.audioLevel = s.audioLevel ?? null;
        result.totalAudioEnergy = s.totalAudioEnergy ?? null;
        const codec = s.codecId && report.get(s.codecId);
        if (codec) result.codec = `${codec.mimeType}/${codec.clockRate}`;
      } else if (s.type === "outbound-rtp") {
        result.packetsSent = s.packetsSent;
      } else if (s.type === "remote-inbound-rtp") {
        result.remoteInbound = { packetsLost: s.packetsLost, fractionLost: s.fractionLost,
          jitter: s.jitter, roundTripTime: s.roundTripTime ?? null };
      }
    });
    return result;
  }
}

// ---------------------------------------------------------------------------
// JsSIP: one JsSIP.UA with event emitters ("registered", "newMessage",
// "newRTCSession"); a call is an RTCSession with its own events.

class JsSipPhone extends BasePhone {
  constructor() {
    super("jssip");
    this.ua = null;
    this.session = null;
  }

  register({ uri, password, wsUrl, displayName }) {
    this.stopUa();
    const socket = new JsSIP.WebSocketInterface(wsUrl);
    this.ua = new JsSIP.UA({
      sockets: [socket],
      uri,
      password,
      display_name: displayName,
      register: true, // send REGISTER as soon as the WebSocket is open
      session_timers: false,
      user_agent: `siplab-phone (JsSIP ${JsSIP.version})`,
    });
    const ua = this.ua;
    ua.on("connected", () => this.record("connected", wsUrl));
    ua.on("disconnected", () => this.record("disconnected", wsUrl));
    ua.on("newMessage", ({ originator, request }) => {
      if (originator === "remote") {
        this.gotMessage(request.from.uri.toString(), request.body,
          request.getHeader("Content-Type"));
      }
    });
    ua.on("newRTCSession", ({ originator, session, request }) => {
      this.newSession(originator, session, request);
    });
    this.record("register", uri);
    return new Promise((resolve) => {
      ua.once("registered", ({ response }) => {
        this.record("registered", `${response.status_code} ${response.reason_phrase}`);
        resolve(ok(response.status_code, response.reason_phrase, "Registered"));
      });
      ua.once("registrationFailed", ({ response, cause }) => {
        this.record("registration failed", `${response?.status_code ?? ""} ${cause}`);
        resolve(failed(response?.status_code ?? null, response?.reason_phrase ?? null, cause));
      });
      ua.start();
    });
  }

  message(target, text) {
    this.record("send message", `to ${target}: ${text}`);
    return new Promise((resolve) => {
      this.ua.sendMessage(target, text, {
        eventHandlers: {
          succeeded: ({ response }) => {
            this.record("message delivered", response.status_code);
            resolve(ok(response.status_code, response.reason_phrase));
          },
          failed: ({ response, cause }) => {
            this.record("message failed", `${response?.status_code ?? ""} ${cause}`);
            resolve(failed(response?.status_code ?? null, response?.reason_phrase ?? null,
              cause));
          },
        },
      });
    });
  }

  // Every call, ours or theirs, arrives here; we keep one at a time.
  newSession(originator, session, request) {
    const who = session.remote_identity.uri.toString();
    // JsSIP lets the app reject an INVITE from this event, before it rings.
    if (originator === "remote" && this.refusePlainOffer(who, request.body, (refusal) => {
      session.terminate({ status_code: refusal.status, reason_phrase: refusal.reason,
        extraHeaders: [refusal.warning] });
    })) return;
    this.session = session;
    this.state = originator === "local" ? "calling" : "ringing";
    this.record(originator === "local" ? "calling" : "incoming call", who);
    session.on("progress", ({ response }) => {
      if (response) this.record("progress", `${response.status_code} ${response.reason_phrase}`);
    });
    // Our answer's RTCPeerConnection appears when we answer: a data channel
    // the offer brings arrives on it.
    session.on("peerconnection", ({ peerconnection }) => {
      peerconnection.addEventListener("datachannel", ({ channel }) => this.useChannel(channel));
    });
    session.on("confirmed", () => this.callEstablished(who, session.connection));
    session.on("ended", ({ originator: by, cause }) => {
      this.callEnded(ok(null, null, `ended by ${by}: ${cause}`));
    });
    session.on("failed", ({ originator: by, message, cause }) => {
      // `message` is the SIP response when the other side refused (488...).
      const status = message?.status_code ?? null;
      this.callEnded(failed(status, message?.reason_phrase ?? null, `${cause} (${by})`));
    });
  }

  call(target, { video = false, data = false } = {}) {
    this.record("call", target);
    this.newDataLink();
    const outcome = this.outcome();
    this.ua.call(target, {
      mediaConstraints: media(video),
      pcConfig: PC_CONFIG,
      eventHandlers: {
        // The RTCPeerConnection exists before the offer is made: a channel
        // opened now is in the offer (m=application).
        peerconnection: ({ peerconnection }) => {
          if (data) this.useChannel(peerconnection.createDataChannel("chat"));
        },
      },
    });
    return outcome;
  }

  answer({ video = false } = {}) {
    if (this.state !== "ringing") return Promise.resolve(failed(null, null, "no incoming call"));
    this.record("answer");
    this.newDataLink();
    const outcome = this.outcome();
    this.session.answer({ mediaConstraints: media(video), pcConfig: PC_CONFIG });
    return outcome;
  }

  hangup() {
    if (this.session && !this.session.isEnded()) {
      this.record("hangup");
      this.session.terminate(); // CANCEL, reject or BYE, as the state requires
    }
    return Promise.resolve();
  }

  peerConnection() {
    return this.session?.connection ?? null;
  }

  stopUa() {
    if (this.ua) this.ua.stop(); // un-REGISTERs and closes the WebSocket
    this.ua = null;
  }

  async stop() {
    this.stopUa();
  }
}

// ---------------------------------------------------------------------------
// SIP.js: a SIP.UserAgent, plus one object per job: a Registerer, a Messager,
// an Inviter (our call) or an Invitation (theirs); each reports through a
// `stateChange` emitter and per-request delegates (onAccept, onReject).

class SipJsPhone extends BasePhone {
  constructor() {
    super("sipjs");
    this.ua = null;
    this.registerer = null;
    this.session = null;
    this.refusal = null; // the final response of a refused INVITE, until the call ends
    this.endCause = null; // who sent the BYE, until the call ends
  }

  async register({ uri, password, wsUrl, displayName }) {
    await this.stop();
    const user = SIP.UserAgent.makeURI(uri);
    this.ua = new SIP.UserAgent({
      uri: user,
      authorizationUsername: user.user,
      authorizationPassword: password,
      displayName,
      transportOptions: { server: wsUrl },
      sessionDescriptionHandlerFactoryOptions: { peerConnectionConfiguration: PC_CONFIG },
      userAgentString: `siplab-phone (SIP.js ${SIP.version})`,
      logLevel: new URLSearchParams(location.search).has("debug") ? "debug" : "warn",
      delegate: {
        onConnect: () => this.record("connected", wsUrl),
        onDisconnect: (error) => this.record("disconnected", error ?? ""),
        onMessage: (message) => {
          const request = message.request;
          message.accept(); // 200 OK: received (RFC 3428 §7)
          this.gotMessage(request.from.uri.toString(), request.body,
            request.getHeader("Content-Type"));
        },
        onInvite: (invitation) => {
          const who = invitation.remoteIdentity.uri.toString();
          if (this.refusePlainOffer(who, invitation.request.body, (refusal) => {
            invitation.reject({ statusCode: refusal.status, reasonPhrase: refusal.reason,
              extraHeaders: [refusal.warning] }).catch(() => {});
          })) return;
          this.newSession("remote", invitation);
        },
      },
    });
    this.record("register", uri);
    await this.ua.start(); // opens the WebSocket
    this.registerer = new SIP.Registerer(this.ua);
    return new Promise((resolve) => {
      this.registerer.register({
        requestDelegate: {
          // SIP.js answers the 401 challenge itself; we hear the final response.
          onAccept: (response) => {
            const { statusCode, reasonPhrase } = response.message;
            this.record("registered", `${statusCode} ${reasonPhrase}`);
            resolve(ok(statusCode, reasonPhrase, this.registerer.state));
          },
          onReject: (response) => {
            const { statusCode, reasonPhrase } = response.message;
            this.record("registration failed", `${statusCode} ${reasonPhrase}`);
            resolve(failed(statusCode, reasonPhrase, this.registerer.state));
          },
        },
      }).catch((error) => resolve(failed(null, null, String(error))));
    });
  }

  message(target, text) {
    this.record("send message", `to ${target}: ${text}`);
    const messager = new SIP.Messager(this.ua, SIP.UserAgent.makeURI(target), text);
    return new Promise((resolve) => {
      messager.message({
        requestDelegate: {
          onAccept: ({ message: m }) => {
            this.record("message delivered", m.statusCode);
            resolve(ok(m.statusCode, m.reasonPhrase));
          },
          onReject: ({ message: m }) => {
            this.record("message failed", `${m.statusCode} ${m.reasonPhrase}`);
            resolve(failed(m.statusCode, m.reasonPhrase));
          },
        },
      }).catch((error) => resolve(failed(null, null, String(error))));
    });
  }

  newSession(originator, session) {
    this.session = session;
    const who = session.remoteIdentity.uri.toString();
    this.state = originator === "local" ? "calling" : "ringing";
    this.record(originator === "local" ? "calling" : "incoming call", who);
    // Hear the other side's BYE (SIP.js then leaves answering it to us).
    session.delegate = {
      onBye: (bye) => {
        bye.accept();
        this.endCause = "ended by remote: BYE";
      },
    };
    session.stateChange.addListener((state) => {
      if (state === SIP.SessionState.Established) {
        this.callEstablished(who, this.peerConnection());
      } else if (state === SIP.SessionState.Terminated) {
        // SIP.js changes state *before* it calls the INVITE's onReject
        // delegate, which gives us the refusal's status: look after it.
        queueMicrotask(() => {
          this.callEnded(this.refusal ?? ok(null, null, this.endCause ?? "Terminated"));
          this.refusal = null;
          this.endCause = null;
        });
      }
    });
  }

  call(target, { video = false, data = false } = {}) {
    this.record("call", target);
    this.newDataLink();
    const inviter = new SIP.Inviter(this.ua, SIP.UserAgent.makeURI(target), {
      // SIP.js opens the data channel itself before the offer when asked.
      sessionDescriptionHandlerOptions: {
        constraints: media(video),
        dataChannel: data,
        dataChannelLabel: "chat",
        onDataChannel: (channel) => this.useChannel(channel),
      },
    });
    this.newSession("local", inviter);
    const outcome = this.outcome();
    inviter.invite({
      requestDelegate: {
        onProgress: ({ message: m }) => this.record("progress", `${m.statusCode} ${m.reasonPhrase}`),
        onReject: ({ message: m }) => {
          this.refusal = failed(m.statusCode, m.reasonPhrase, "Rejected");
        },
      },
    }).catch((error) => {
      this.refusal = failed(null, null, String(error));
    });
    return outcome;
  }

  answer({ video = false } = {}) {
    if (this.state !== "ringing") return Promise.resolve(failed(null, null, "no incoming call"));
    this.record("answer");
    this.newDataLink();
    const outcome = this.outcome();
    this.session.accept({
      sessionDescriptionHandlerOptions: {
        constraints: media(video),
        onDataChannel: (channel) => this.useChannel(channel), // one the offer brings
      },
    })
      .catch((error) => this.record("answer failed", error));
    return outcome;
  }

  async hangup() {
    const session = this.session;
    if (!session) return;
    this.record("hangup");
    switch (session.state) {
      case SIP.SessionState.Initial:
      case SIP.SessionState.Establishing:
        // Not answered yet: the caller CANCELs, the callee rejects (480 by default).
        this.endCause = "ended by local: hung up before the answer";
        if (session instanceof SIP.Inviter) await session.cancel();
        else await session.reject();
        break;
      case SIP.SessionState.Established:
        this.endCause = "ended by local: BYE";
        await session.bye();
        break;
      default:
        break; // already ending or ended
    }
  }

  peerConnection() {
    return this.session?.sessionDescriptionHandler?.peerConnection ?? null;
  }

  async stop() {
    if (!this.ua) return;
    const ua = this.ua;
    this.ua = null;
    if (this.registerer?.state === SIP.RegistererState.Registered) {
      await this.registerer.unregister().catch(() => {});
    }
    await ua.stop(); // closes the WebSocket
  }
}

// ---------------------------------------------------------------------------
// Start: load the library the query string names, then make window.phone.

const LIBRARIES = {
  jssip: { bundle: "dist/jssip.bundle.js", Phone: JsSipPhone },
  sipjs: { bundle: "dist/sipjs.bundle.js", Phone: SipJsPhone },
};

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = src;
    script.onload = resolve;
    script.onerror = () => reject(new Error(`could not load ${src}`));
    document.head.appendChild(script);
  });
}

async function start() {
  const params = new URLSearchParams(location.search);
  const name = params.get("lib") || "jssip";
  const library = LIBRARIES[name];
  if (!library) throw new Error(`unknown lib=${name}: use jssip or sipjs`);
  await loadScript(library.bundle);
  if (name === "jssip" && params.has("debug")) JsSIP.debug.enable("JsSIP:*");
  window.phone = new library.Phone();
  window.phone.record("ready", `${name} ${name === "jssip" ? JsSIP.version : SIP.version}`);
  document.dispatchEvent(new Event("phone-ready")); // phone.html's buttons wait for this
}

start().catch((error) => {
  console.error(error);
  window.phoneError = String(error);
});
