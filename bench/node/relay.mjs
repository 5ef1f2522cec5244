// The Socket.IO peer of bench/run.py: a relay on Socket.IO 4.8 with the Redis Streams adapter.
// A client joins the room named by its `room` query parameter; POST /publish [{room, data}, ...]
// emits each `data` to its room, as an app's own handler would.
//
//   PORT=8100 REDIS_URL=redis://127.0.0.1:6379 node relay.mjs
import http from "node:http";
import { createAdapter } from "@socket.io/redis-streams-adapter";
import { createClient } from "redis";
import { Server } from "socket.io";

const redis = createClient({ url: process.env.REDIS_URL });
await redis.connect();

const server = http.createServer((request, response) => {
  if (request.method !== "POST" || request.url !== "/publish") {
    response.writeHead(404).end();
    return;
  }
  let body = "";
  request.setEncoding("utf8");
  request.on("data", (chunk) => { body += chunk; });
  request.on("end", () => {
    for (const { room, data } of JSON.parse(body)) io.to(room).emit("message", data);
    response.writeHead(204).end();
  });
});

const io = new Server(server, { adapter: createAdapter(redis), transports: ["websocket"] });
io.on("connection", (socket) => socket.join(String(socket.handshake.query.room)));

server.listen(Number(process.env.PORT), "127.0.0.1", () => console.log("listening"));
