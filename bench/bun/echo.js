// Bun's side of the echo scenarios (uWebSockets inside): `Bun.serve` with a
// `websocket` handler that sends every message back as it came (a string as
// text, a buffer as binary), compression off, messages up to 16 MiB (as
// cheese-api's examples/echo), every other setting default.
//
// `bun echo.js [PORT]` (or `PORT=...`; default 9104), serves
// `ws://127.0.0.1:PORT/`. cheese-bench installs Bun and starts it.

const port = Number(process.argv[2] ?? process.env.PORT ?? 9104);

Bun.serve({
  hostname: "127.0.0.1",
  port,
  fetch(req, server) {
    if (server.upgrade(req)) return;
    return new Response("WebSocket only\n", { status: 426 });
  },
  websocket: {
    perMessageDeflate: false,
    maxPayloadLength: 16 << 20,
    message(ws, message) {
      ws.send(message);
    },
  },
});
