// The viewer protocol (docs/protocol.md) over one WebSocket: JSON commands and events, and the
// DGF1 binary envelope (magic, uint32 LE header length, JSON header, payload) for frames,
// files and the commands that carry data.

const MAGIC = [0x44, 0x47, 0x46, 0x31]; // "DGF1"

export function packEnvelope(header, payload) {
  const headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const body = new Uint8Array(payload);
  const message = new Uint8Array(8 + headerBytes.length + body.length);
  message.set(MAGIC, 0);
  new DataView(message.buffer).setUint32(4, headerBytes.length, true);
  message.set(headerBytes, 8);
  message.set(body, 8 + headerBytes.length);
  return message.buffer;
}

export function unpackEnvelope(buffer) {
  const bytes = new Uint8Array(buffer);
  if (bytes.length < 8 || MAGIC.some((value, i) => bytes[i] !== value)) {
    throw new Error("binary message without the DGF1 envelope");
  }
  const headerLength = new DataView(buffer).getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  return { header, payload: bytes.subarray(8 + headerLength) };
}

export class Connection {
  // handlers: { event(json), frame(header, rgbBytes), mask(header, bytes), file(header, bytes),
  //             closed(code, reason) }
  constructor(handlers) {
    this.handlers = handlers;
    this.nextId = 1;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    this.socket = new WebSocket(`${scheme}//${location.host}/ws`);
    this.socket.binaryType = "arraybuffer";
    this.socket.addEventListener("message", (message) => this.receive(message.data));
    this.socket.addEventListener("close", (close) => handlers.closed(close.code, close.reason));
  }

  get open() {
    return this.socket.readyState === WebSocket.OPEN;
  }

  get connecting() {
    return this.socket.readyState === WebSocket.CONNECTING;
  }

  receive(data) {
    if (typeof data === "string") {
      this.handlers.event(JSON.parse(data));
      return;
    }
    const { header, payload } = unpackEnvelope(data);
    if (header.kind === "frame") this.handlers.frame(header, payload);
    else if (header.kind === "mask") this.handlers.mask(header, payload);
    else this.handlers.file(header, payload);
  }

  // Sends a command; returns its id (replies echo it). A payload makes it a binary message.
  send(type, fields = {}, payload = null) {
    if (!this.open) return null;
    const command = { type, id: this.nextId++, ...fields };
    this.socket.send(payload === null ? JSON.stringify(command) : packEnvelope(command, payload));
    return command.id;
  }
}
