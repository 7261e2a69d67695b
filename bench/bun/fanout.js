// Bun's side of the fan-out scenario, the wire of bench/src/fanout_wire.rs:
// every connection subscribes to the topic `all` when it opens; a text
// `go <n>` from any client publishes one 64-byte text message holding `n`
// with `server.publish` (to every subscriber, the sender included).
// Compression off, every other setting default.
//
// `bun fanout.js [PORT]` (or `PORT=...`; default 9105), serves
// `ws://127.0.0.1:PORT/`. cheese-bench installs Bun and starts it.

const port = Number(process.argv[2] ?? process.env.PORT ?? 9105);
const LEN = 64;
const FILL_FROM = "fanout ".length + 20 + 1;

// `fanout 00000000000000000042 ` then letters that depend on n: byte j is
// 'a' + ((n mod 26) + j) mod 26, 64 bytes in all.
function payload(digits) {
  const shift = Number(BigInt(digits) % 26n);
  let s = `fanout ${digits.padStart(20, "0")} `;
  for (let j = FILL_FROM; j < LEN; j++) s += String.fromCharCode(97 + ((shift + j) % 26));
  return s;
}

const server = Bun.serve({
  hostname: "127.0.0.1",
  port,
  fetch(req, server) {
    if (server.upgrade(req)) return;
    return new Response("WebSocket only\n", { status: 426 });
  },
  websocket: {
    perMessageDeflate: false,
    open(ws) {
      ws.subscribe("all");
    },
    message(ws, message) {
      const go = typeof message === "string" && /^go (\d{1,20})$/.exec(message);
      if (go) server.publish("all", payload(go[1]));
    },
  },
});
