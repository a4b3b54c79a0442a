// Drives the real `inngest` npm SDK against an EventIngest host and prints what it saw as JSON.
//   node inngest-compat.mjs send  <baseUrl>   one event, then a batch of three
//   node inngest-compat.mjs retry <baseUrl>   a batch through a proxy that fails the first attempt
//                                             after the host has stored it, so the SDK retries
// EVENTINGEST_NODE_TOOLS names the folder whose node_modules holds the pinned SDK.
import { createRequire } from "node:module";
import http from "node:http";
import path from "node:path";

const require = createRequire(path.join(process.env.EVENTINGEST_NODE_TOOLS, "package.json"));
const { Inngest } = require("inngest");

const [mode, target] = process.argv.slice(2);
const client = (baseUrl) =>
  new Inngest({ id: "eventingest-compat", baseUrl, eventKey: "compat-key", isDev: false, logger: { info() {}, warn() {}, error() {}, debug() {} } });

async function send() {
  const inngest = client(target);
  const single = await inngest.send({ name: "compat/single", data: { n: 1 }, user: { external_id: "u-1" } });
  const batch = await inngest.send([
    { name: "compat/batch", data: { n: 1 } },
    { name: "compat/batch", data: { n: 2 } },
    { name: "compat/batch", data: { n: 3 } },
  ]);
  return { single: single.ids, batch: batch.ids };
}

async function retry() {
  const attempts = [];
  const upstream = new URL(target);
  const proxy = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", async () => {
      const body = Buffer.concat(chunks);
      const forwarded = await fetch(new URL(req.url, upstream), { method: req.method, headers: req.headers, body });
      const text = await forwarded.text();
      attempts.push({ seed: req.headers["x-inngest-event-id-seed"], status: forwarded.status, body: JSON.parse(text) });
      if (attempts.length === 1) {
        res.writeHead(502, { "content-type": "application/json" });
        res.end(JSON.stringify({ status: 502, error: "injected failure" }));
        return;
      }
      res.writeHead(forwarded.status, { "content-type": "application/json" });
      res.end(text);
    });
  });
  await new Promise((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  try {
    const inngest = client(`http://127.0.0.1:${proxy.address().port}/`);
    const result = await inngest.send([{ name: "compat/retry", data: { n: 1 } }, { name: "compat/retry", data: { n: 2 } }]);
    return { ids: result.ids, attempts };
  } finally {
    proxy.close();
  }
}

const result = mode === "retry" ? await retry() : await send();
process.stdout.write(JSON.stringify(result));
