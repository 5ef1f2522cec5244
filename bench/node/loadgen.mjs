// The load generator of bench/run.py: holds thousands of event streams (SSE or Socket.IO) in one
// process, sends messages over HTTP at a fixed rate, and measures what arrives.
//
// It reads one JSON command per line on stdin and answers each with one JSON line on stdout:
//   open     {kind: "sse"|"socketio", base, streams: [{key, path?, headers?}], rate}
//   status   -> opened, ready, statuses, broken, notReady (keys that saw no warm-up event yet)
//   mark     starts a measurement window
//   window   -> received, duplicates, outOfOrder and latency percentiles since the mark
//   send     {base, posts: [{path, token, target}], rate, count, first}: POST messages, round robin
//   signins  {base, credentials: [{email, password}], concurrency, seconds}: sign in over and over
//   close
//
// Every measured event carries "bench:<n>:<sent ms>:<target key>" somewhere in its data: it counts
// on a stream whose key is the target, and n = -1 is a warm-up event that marks the stream ready.
import http from "node:http";
import { performance } from "node:perf_hooks";
import readline from "node:readline";
import { io } from "socket.io-client";

const MARKER = /bench:(-?\d+):(\d+(?:\.\d+)?):([\w-]+)/;
const now = () => performance.timeOrigin + performance.now();
const streamAgent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
// Many customers send at once, each on a connection of their own as phones would.
const sendAgent = new http.Agent({ keepAlive: true, maxSockets: 256 });

const streams = [];
const counts = { statuses: {}, broken: 0, connectErrors: 0 };
let windowStats = newWindow();

function newWindow() {
  return { received: 0, duplicates: 0, outOfOrder: 0, other: 0, latencies: [] };
}

class Stream {
  constructor(key) {
    this.key = key;
    this.ready = false;
    this.seen = new Set(); // message numbers received in the current window
    this.lastId = null;
  }

  receive(data, id) {
    if (id) {
      if (this.lastId && compareIds(id, this.lastId) <= 0) windowStats.outOfOrder += 1;
      this.lastId = id;
    }
    const marker = MARKER.exec(data);
    if (!marker) return;
    const n = Number(marker[1]);
    if (n < 0) {
      this.ready = true;
      return;
    }
    if (marker[3] !== this.key) {
      windowStats.other += 1;
      return;
    }
    if (this.seen.has(n)) {
      windowStats.duplicates += 1;
      return;
    }
    this.seen.add(n);
    windowStats.received += 1;
    windowStats.latencies.push(now() - Number(marker[2]));
  }
}

function compareIds(a, b) {
  const [am, as] = a.split("-").map(BigInt);
  const [bm, bs] = b.split("-").map(BigInt);
  return am !== bm ? (am < bm ? -1 : 1) : as === bs ? 0 : as < bs ? -1 : 1;
}

function count(status) {
  counts.statuses[status] = (counts.statuses[status] || 0) + 1;
}

// An EventSource as a browser runs it: reconnect after `retry:` with Last-Event-ID, and after a
// 503 (or 429) wait as long as Retry-After says.
function openSse(base, spec, stream) {
  let retryMs = 3000;
  const connect = () => {
    const headers = { Accept: "text/event-stream", ...(spec.headers || {}) };
    if (stream.lastId) headers["Last-Event-ID"] = stream.lastId;
    const request = http.get(base + (spec.path || ""), { agent: streamAgent, headers }, (response) => {
      count(response.statusCode);
      if (response.statusCode !== 200) {
        response.resume();
        const wait = Number(response.headers["retry-after"]);
        setTimeout(connect, (Number.isFinite(wait) ? wait : 1) * 1000);
        return;
      }
      stream.open = true;
      response.setEncoding("utf8");
      let buffer = "";
      response.on("data", (chunk) => {
        buffer += chunk;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let data = "", id = null;
          for (const line of block.split("\n")) {
            const colon = line.indexOf(":");
            const name = line.slice(0, colon), value = line.slice(colon + 1).replace(/^ /, "");
            if (name === "data") data += data ? "\n" + value : value;
            else if (name === "id") id = value;
            else if (name === "retry") retryMs = Number(value);
          }
          if (data || id) stream.receive(data, id);
        }
      });
      response.on("close", () => {
        if (closing) return;
        counts.broken += 1;
        setTimeout(connect, retryMs);
      });
    });
    request.on("error", () => {
      if (closing) return;
      counts.connectErrors += 1;
      setTimeout(connect, 1000);
    });
    stream.request = request;
  };
  connect();
}

function openSocketIo(base, spec, stream) {
  const socket = io(base, { transports: ["websocket"], forceNew: true, query: { room: spec.key } });
  socket.on("connect", () => { stream.open = true; count(200); });
  socket.on("connect_error", () => { counts.connectErrors += 1; });
  socket.on("disconnect", () => { if (!closing) counts.broken += 1; });
  socket.on("message", (data) => stream.receive(typeof data === "string" ? data : JSON.stringify(data), null));
  stream.socket = socket;
}

let closing = false;

async function open({ kind, base, streams: specs, rate }) {
  const start = now();
  for (let i = 0; i < specs.length; i++) {
    const due = start + (i * 1000) / rate - now();
    if (due > 0) await sleep(due);
    const stream = new Stream(specs[i].key);
    streams.push(stream);
    (kind === "socketio" ? openSocketIo : openSse)(base, specs[i], stream);
  }
  return { scheduled: specs.length };
}

function status() {
  const notReady = streams.filter((s) => !s.ready).map((s) => s.key);
  return {
    streams: streams.length, opened: streams.filter((s) => s.open).length,
    ready: streams.length - notReady.length, notReady: [...new Set(notReady)], ...counts,
    cpuMs: cpuMs(), rssBytes: process.memoryUsage().rss,
  };
}

function mark() {
  windowStats = newWindow();
  for (const stream of streams) stream.seen.clear();
  return { cpuMs: cpuMs() };
}

function window() {
  const sorted = windowStats.latencies.sort((a, b) => a - b);
  const at = (q) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : null);
  const { latencies, ...rest } = windowStats;
  return { ...rest, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1), cpuMs: cpuMs() };
}

function post(base, path, headers, body) {
  return new Promise((resolve) => {
    const payload = JSON.stringify(body);
    const request = http.request(base + path, {
      method: "POST", agent: sendAgent,
      headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(payload), ...headers },
    }, (response) => {
      response.resume();
      response.on("end", () => resolve(response.statusCode));
    });
    request.on("error", () => resolve("error"));
    request.end(payload);
  });
}

async function send({ base, posts, rate, count: total, first = 0 }) {
  const statuses = {}, pending = [], took = [];
  const start = now();
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate - now();
    if (due > 0) await sleep(due);
    const target = posts[i % posts.length], n = first + i;
    const sentAt = now();
    pending.push(post(base, target.path, { Authorization: `Bearer ${target.token}` },
      { body: `bench:${n}:${sentAt.toFixed(3)}:${target.target}` }).then((status) => {
      statuses[status] = (statuses[status] || 0) + 1;
      took.push(now() - sentAt);
    }));
  }
  await Promise.all(pending);
  took.sort((a, b) => a - b);
  return { statuses, seconds: (now() - start) / 1000, responseP50: took[Math.floor(took.length / 2)] ?? null,
    responseP99: took[Math.min(took.length - 1, Math.floor(took.length * 0.99))] ?? null };
}

async function signins({ base, credentials, concurrency, seconds }) {
  const statuses = {}, deadline = now() + seconds * 1000;
  await Promise.all(Array.from({ length: concurrency }, async (_, i) => {
    while (now() < deadline) {
      const status = await post(base, "/api/auth/token", {}, credentials[i % credentials.length]);
      statuses[status] = (statuses[status] || 0) + 1;
    }
  }));
  return { statuses };
}

function close() {
  closing = true;
  for (const stream of streams) {
    stream.request?.destroy();
    stream.socket?.disconnect();
  }
  return { closed: streams.length };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const cpuMs = () => { const { user, system } = process.cpuUsage(); return (user + system) / 1000; };
const commands = { open, status, mark, window, send, signins, close };

// Commands overlap (an `open` or a `send` takes seconds while `status` is asked): each answer
// carries the id of its command.
readline.createInterface({ input: process.stdin }).on("line", async (line) => {
  const { id, cmd, ...args } = JSON.parse(line);
  const answer = await commands[cmd](args);
  process.stdout.write(JSON.stringify({ id, ...answer }) + "\n");
  if (cmd === "close") setTimeout(() => process.exit(0), 200);
});
