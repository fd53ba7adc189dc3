// The Socket.IO peer for the Commonground loadtest: rooms and broadcast, nothing else.
//
// Events (all on the default namespace, websocket transport only):
//   client -> "join" (room)                  server -> "joined" (room)
//   client -> "publish" (room, text, id)     server -> "said" {room, seq, text} to the room,
//                                                       then "ack" (id) to the publisher
// The same `said` payload shape as the bare peer and Commonground, so the loadtest's frames
// carry comparable bytes. With REDIS_URL set, rooms go through @socket.io/redis-adapter (the
// usual way to run more than one node).
//
// Usage: PORT=3000 [REDIS_URL=redis://127.0.0.1:6379] node server.js
"use strict";

const http = require("http");
const { Server } = require("socket.io");

const port = Number(process.env.PORT || 3000);
const host = process.env.HOST || "127.0.0.1";

async function main() {
  const httpServer = http.createServer();
  const io = new Server(httpServer, {
    transports: ["websocket"],
    serveClient: false,
    perMessageDeflate: false,
  });
  if (process.env.REDIS_URL) {
    const { createClient } = require("redis");
    const { createAdapter } = require("@socket.io/redis-adapter");
    const pub = createClient({ url: process.env.REDIS_URL });
    const sub = pub.duplicate();
    await Promise.all([pub.connect(), sub.connect()]);
    io.adapter(createAdapter(pub, sub));
  }
  const seqs = new Map();
  io.on("connection", (socket) => {
    socket.on("join", (room) => {
      socket.join(String(room));
      socket.emit("joined", room);
    });
    socket.on("publish", (room, text, id) => {
      const seq = (seqs.get(room) || 0) + 1;
      seqs.set(room, seq);
      io.to(String(room)).emit("said", { room, seq, text });
      socket.emit("ack", id);
    });
  });
  httpServer.listen(port, host, () => {
    console.log(`listening on ${host}:${port}${process.env.REDIS_URL ? " (redis adapter)" : ""}`);
  });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
