// An independent Matrix E2EE client for the gateway's end-to-end tests: matrix-js-sdk with the
// Rust crypto (WebAssembly). The Go test writes one JSON command per line on stdin and reads one
// JSON answer per line on stdout: {"id": n, "ok": true, ...} or {"id": n, "ok": false, "error": "..."}.
// Logs go to stderr. Several accounts can be driven at once; each command names its "client".
import * as sdk from "matrix-js-sdk";
import * as RustSdkCryptoJs from "@matrix-org/matrix-sdk-crypto-wasm";
import { logger } from "matrix-js-sdk/lib/logger.js";
import { createInterface } from "node:readline";
import { webcrypto } from "node:crypto";

// Node 20 lacks Promise.withResolvers (Node 22 has it); matrix-js-sdk 37 uses it.
if (!Promise.withResolvers) {
  Promise.withResolvers = function () {
    let resolve, reject;
    const promise = new this((res, rej) => { resolve = res; reject = rej; });
    return { promise, resolve, reject };
  };
}
logger.setLevel(process.env.E2EE_CLIENT_DEBUG ? "debug" : "warn");
const subtle = webcrypto.subtle;
const clients = new Map(); // name → {cli, events, password, recovery}

function out(obj) { process.stdout.write(JSON.stringify(obj) + "\n"); }

async function waitUntil(what, cond, ms = 60000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > end) throw new Error("timed out waiting for " + what);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function b64(buf) { return Buffer.from(buf).toString("base64").replace(/=+$/, ""); }
function b64url(buf) { return Buffer.from(buf).toString("base64url"); }

// Encrypted attachments (spec: AES-256-CTR, SHA-256 of the ciphertext, key as a JWK).
async function encryptAttachment(data) {
  const key = await subtle.generateKey({ name: "AES-CTR", length: 256 }, true, ["encrypt", "decrypt"]);
  const iv = new Uint8Array(16);
  webcrypto.getRandomValues(iv.subarray(0, 8));
  const ct = new Uint8Array(await subtle.encrypt({ name: "AES-CTR", counter: iv, length: 64 }, key, data));
  const jwk = await subtle.exportKey("jwk", key);
  const hash = await subtle.digest("SHA-256", ct);
  return { ct, file: { v: "v2", key: { alg: "A256CTR", ext: true, k: jwk.k, key_ops: ["encrypt", "decrypt"], kty: "oct" }, iv: b64(iv), hashes: { sha256: b64(hash) } } };
}

async function decryptAttachment(ct, file) {
  const hash = b64(await subtle.digest("SHA-256", ct));
  if (hash !== file.hashes.sha256.replace(/=+$/, "")) throw new Error("attachment hash mismatch");
  const key = await subtle.importKey("jwk", { kty: "oct", k: file.key.k, alg: "A256CTR", ext: true, key_ops: ["encrypt", "decrypt"] }, { name: "AES-CTR" }, false, ["decrypt"]);
  const iv = Buffer.from(file.iv, "base64");
  return new Uint8Array(await subtle.decrypt({ name: "AES-CTR", counter: iv, length: 64 }, key, ct));
}

function eventView(ev) {
  return {
    event_id: ev.getId(), room_id: ev.getRoomId(), sender: ev.getSender(), type: ev.getType(),
    wire_type: ev.getWireType(), encrypted: ev.isEncrypted(), decryption_failure: ev.isDecryptionFailure(),
    content: ev.getContent(), wire_content: ev.getWireContent(),
  };
}

const commands = {
  // Log in with a password (a new device), start the Rust crypto in memory and sync.
  async login({ client, homeserver, user, password }) {
    const tmp = sdk.createClient({ baseUrl: homeserver });
    const r = await tmp.loginRequest({ type: "m.login.password", identifier: { type: "m.id.user", user }, password });
    const state = { events: [], password, secretKey: null };
    const cli = sdk.createClient({
      baseUrl: homeserver, userId: r.user_id, accessToken: r.access_token, deviceId: r.device_id,
      cryptoCallbacks: {
        getSecretStorageKey: async ({ keys }) => {
          const keyId = Object.keys(keys)[0];
          return state.secretKey ? [keyId, state.secretKey.privateKey] : null;
        },
        cacheSecretStorageKey: () => {},
      },
    });
    await cli.initRustCrypto({ useIndexedDB: false });
    cli.on(sdk.RoomEvent.Timeline, (ev) => { state.events.push(ev); });
    await cli.startClient({ initialSyncLimit: 20 });
    await waitUntil("first sync", () => cli.isInitialSyncComplete());
    state.cli = cli;
    clients.set(client, state);
    return { user_id: r.user_id, device_id: r.device_id, access_token: r.access_token };
  },

  // Cross-signing, Secret Storage (optionally with a passphrase) and a new key backup.
  async bootstrap({ client, passphrase }) {
    const st = clients.get(client);
    const crypto = st.cli.getCrypto();
    await crypto.bootstrapCrossSigning({
      setupNewCrossSigning: true,
      authUploadDeviceSigningKeys: async (makeRequest) => {
        await makeRequest({ type: "m.login.password", identifier: { type: "m.id.user", user: st.cli.getUserId() }, password: st.password });
      },
    });
    await crypto.bootstrapSecretStorage({
      setupNewSecretStorage: true,
      createSecretStorageKey: async () => {
        st.secretKey = await crypto.createRecoveryKeyFromPassphrase(passphrase || undefined);
        return st.secretKey;
      },
    });
    await crypto.resetKeyBackup(); // a new backup, its key stored in secret storage
    const version = await waitUntil("the backup to be active", () => crypto.getActiveSessionBackupVersion());
    return { recovery_key: st.secretKey.encodedPrivateKey, backup_version: version };
  },

  // Replace the account's cross-signing keys with new ones (a reset): devices signed by the old
  // keys are no longer cross-signed, and other users see a changed identity.
  async reset_cross_signing({ client }) {
    const st = clients.get(client);
    await st.cli.getCrypto().bootstrapCrossSigning({
      setupNewCrossSigning: true,
      authUploadDeviceSigningKeys: async (makeRequest) => {
        await makeRequest({ type: "m.login.password", identifier: { type: "m.id.user", user: st.cli.getUserId() }, password: st.password });
      },
    });
    return {};
  },

  // Cross-sign another device of the same account (needs the cross-signing keys: bootstrap first).
  async cross_sign_device({ client, device_id }) {
    const cli = clients.get(client).cli;
    await waitUntil(`device ${device_id} known`, async () => {
      const devices = await cli.getCrypto().getUserDeviceInfo([cli.getUserId()], true);
      return devices.get(cli.getUserId())?.has(device_id);
    });
    await cli.getCrypto().crossSignDevice(device_id);
    // The signature is seen once the client fetched its own keys again (after /sync says so).
    await waitUntil(`device ${device_id} signed`, async () => {
      const s = await cli.getCrypto().getDeviceVerificationStatus(cli.getUserId(), device_id);
      return s && s.signedByOwner;
    });
    return {};
  },

  // Verify another user's identity: sign their master key with this account's user-signing key
  // (as after an interactive verification; needs the cross-signing keys: bootstrap first).
  // Reaches into the Rust crypto, which the SDK's public API only does through verification flows.
  async verify_user({ client, user_id }) {
    const crypto = clients.get(client).cli.getCrypto();
    const identity = await waitUntil(`the identity of ${user_id}`, async () => {
      await crypto.getUserDeviceInfo([user_id], true);
      return await crypto.olmMachine.getIdentity(new RustSdkCryptoJs.UserId(user_id));
    });
    try {
      await crypto.outgoingRequestProcessor.makeOutgoingRequest(await identity.verify());
    } finally {
      identity.free();
    }
    await waitUntil(`${user_id} verified`, async () => (await crypto.getUserVerificationStatus(user_id)).isCrossSigningVerified());
    return {};
  },

  async create_room({ client, invite, encrypted, direct }) {
    const cli = clients.get(client).cli;
    const initial_state = encrypted ? [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }] : [];
    const r = await cli.createRoom({ preset: "private_chat", invite: invite || [], is_direct: !!direct, initial_state });
    await waitUntil("the room in sync", () => cli.getRoom(r.room_id));
    return { room_id: r.room_id };
  },

  async join({ client, room_id }) {
    const cli = clients.get(client).cli;
    await waitUntil("the invite", () => cli.getRoom(room_id));
    await cli.joinRoom(room_id);
    return {};
  },

  async wait_member({ client, room_id, user_id, membership }) {
    const cli = clients.get(client).cli;
    await waitUntil(`${user_id} ${membership} in ${room_id}`, () => {
      const m = cli.getRoom(room_id)?.getMember(user_id);
      return m && m.membership === (membership || "join");
    });
    return {};
  },

  async send({ client, room_id, type, content }) {
    const cli = clients.get(client).cli;
    const r = await cli.sendEvent(room_id, type || "m.room.message", content);
    return { event_id: r.event_id };
  },

  // Upload bytes as an encrypted attachment and send them as m.image.
  async send_image({ client, room_id, data_base64, mimetype, body }) {
    const cli = clients.get(client).cli;
    const data = Buffer.from(data_base64, "base64");
    const { ct, file } = await encryptAttachment(data);
    const up = await cli.uploadContent(Buffer.from(ct), { type: "application/octet-stream", name: "" });
    const content = { msgtype: "m.image", body: body || "image.png", info: { mimetype: mimetype || "image/png", size: data.length }, file: { ...file, url: up.content_uri, mimetype: mimetype || "image/png" } };
    const r = await cli.sendEvent(room_id, "m.room.message", content);
    return { event_id: r.event_id };
  },

  // Download an attachment (encrypted or not) over authenticated media and return its bytes.
  async download({ client, content }) {
    const cli = clients.get(client).cli;
    const mxc = content.file ? content.file.url : content.url;
    const [server, mediaId] = mxc.slice("mxc://".length).split("/");
    const url = `${cli.getHomeserverUrl()}/_matrix/client/v1/media/download/${server}/${mediaId}`;
    const resp = await fetch(url, { headers: { Authorization: "Bearer " + cli.getAccessToken() } });
    if (!resp.ok) throw new Error("download failed: " + resp.status);
    let data = new Uint8Array(await resp.arrayBuffer());
    if (content.file) data = await decryptAttachment(data, content.file);
    return { data_base64: Buffer.from(data).toString("base64") };
  },

  // Wait for a timeline event matching the filter, decrypted; returns its clear view.
  async wait_event({ client, room_id, sender, type, body, msgtype, relates_to, timeout_ms }) {
    const st = clients.get(client);
    const ev = await waitUntil(`an event in ${room_id}`, async () => {
      for (const ev of st.events) {
        if (ev.getRoomId() !== room_id) continue;
        if (sender && ev.getSender() !== sender) continue;
        if (ev.isEncrypted()) await st.cli.decryptEventIfNeeded(ev);
        if (ev.isBeingDecrypted && ev.isBeingDecrypted()) continue;
        if (type && ev.getType() !== type) continue;
        const c = ev.getContent();
        if (body !== undefined && c.body !== body) continue;
        if (msgtype !== undefined && c.msgtype !== msgtype) continue;
        if (relates_to && (!c["m.relates_to"] || c["m.relates_to"].event_id !== relates_to)) continue;
        return ev;
      }
      return null;
    }, timeout_ms || 60000);
    return eventView(ev);
  },

  // Wait until the event is decrypted, or its sender has withheld its key from this device:
  // {decrypted: true, ...view} or {decrypted: false, failure_reason}.
  async wait_decryption({ client, room_id, event_id, timeout_ms }) {
    const st = clients.get(client);
    return await waitUntil(`${event_id} decrypted or withheld`, async () => {
      const ev = st.events.find((e) => e.getRoomId() === room_id && e.getId() === event_id);
      if (!ev) return null;
      if (ev.isEncrypted()) await st.cli.decryptEventIfNeeded(ev);
      if (ev.isBeingDecrypted && ev.isBeingDecrypted()) return null;
      if (!ev.isDecryptionFailure()) return ev.getType() === "m.room.encrypted" ? null : { decrypted: true, ...eventView(ev) };
      const reason = ev.decryptionFailureReason || "";
      return reason.includes("WITHHELD") ? { decrypted: false, failure_reason: reason } : null;
    }, timeout_ms || 60000);
  },

  // How the user sees a device of another user (cross-signing verification).
  async device_status({ client, user_id, device_id }) {
    const cli = clients.get(client).cli;
    await cli.getCrypto().getUserDeviceInfo([user_id], true);
    const s = await cli.getCrypto().getDeviceVerificationStatus(user_id, device_id);
    return { cross_signing_verified: !!(s && s.crossSigningVerified), signed_by_owner: !!(s && s.signedByOwner) };
  },

  // Wait until the server's key backup holds at least count (default 1) room keys.
  async wait_backed_up({ client, count }) {
    const cli = clients.get(client).cli;
    await waitUntil("keys in the backup", async () => {
      const info = await cli.http.authedRequest("GET", "/room_keys/version", undefined, undefined, { prefix: "/_matrix/client/v3" });
      return info && info.count >= (count || 1);
    });
    return {};
  },

  async discard_session({ client, room_id }) {
    await clients.get(client).cli.getCrypto().forceDiscardSession(room_id);
    return {};
  },

  // The room key of one session as this client would export it (session_key at its first known index).
  async export_room_key({ client, room_id, session_id }) {
    const keys = await clients.get(client).cli.getCrypto().exportRoomKeys();
    const key = keys.find((k) => k.room_id === room_id && k.session_id === session_id);
    if (!key) throw new Error(`no room key ${session_id} in ${room_id}`);
    return { key };
  },

  // Forward a room key this client holds to one device of another account, unasked, as an
  // Olm-encrypted m.forwarded_room_key (what a client answering a key request sends).
  async forward_room_key({ client, room_id, session_id, to_user, to_device }) {
    const cli = clients.get(client).cli;
    const { key } = await commands.export_room_key({ client, room_id, session_id });
    const content = {
      algorithm: key.algorithm, room_id, session_id, session_key: key.session_key, sender_key: key.sender_key,
      sender_claimed_ed25519_key: key.sender_claimed_keys.ed25519,
      forwarding_curve25519_key_chain: key.forwarding_curve25519_key_chain || [],
    };
    await cli.getCrypto().getUserDeviceInfo([to_user], true);
    const batch = await cli.getCrypto().encryptToDeviceMessages("m.forwarded_room_key", [{ userId: to_user, deviceId: to_device }], content);
    if (batch.batch.length !== 1) throw new Error(`cannot encrypt for ${to_user} ${to_device}`);
    await cli.sendToDevice(batch.eventType, new Map([[to_user, new Map([[to_device, batch.batch[0].payload]])]]));
    return {};
  },

  async identity({ client }) {
    const cli = clients.get(client).cli;
    const keys = await cli.getCrypto().getOwnDeviceKeys();
    return { curve25519: keys.curve25519, ed25519: keys.ed25519 };
  },

  async stop({ client }) {
    const st = clients.get(client);
    st.cli.stopClient();
    clients.delete(client);
    return {};
  },
};

const rl = createInterface({ input: process.stdin });
rl.on("line", async (line) => {
  let req;
  try { req = JSON.parse(line); } catch (e) { out({ ok: false, error: "bad json: " + e.message }); return; }
  try {
    const fn = commands[req.cmd];
    if (!fn) throw new Error("unknown command " + req.cmd);
    const res = await fn(req);
    out({ id: req.id, ok: true, ...res });
  } catch (e) {
    out({ id: req.id, ok: false, error: String(e && e.stack || e) });
  }
});
rl.on("close", () => { for (const st of clients.values()) st.cli.stopClient(); process.exit(0); });
out({ id: 0, ok: true, ready: true });
