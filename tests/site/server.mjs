// A real static file server for the built site (dist/), on 127.0.0.1 only.
// Sends `Access-Control-Allow-Origin: *` like common static hosts do, so a
// sandboxed embed (whose origin is opaque) can still load the wasm.
import http from "node:http";
import fs from "node:fs";
import path from "node:path";

const TYPES = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript",
  ".css": "text/css", ".wasm": "application/wasm", ".json": "application/json", ".png": "image/png",
  ".svg": "image/svg+xml",
};

/** Serves `root` under `prefix` (a sub-path, to prove the site works there);
 *  `{ cors: false }` leaves out the CORS header, like some hosts do. */
export function serve(root, prefix = "/", { cors = true } = {}) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://localhost");
    if (!url.pathname.startsWith(prefix)) { res.writeHead(404); return res.end("not found"); }
    let rel = decodeURIComponent(url.pathname.slice(prefix.length));
    if (rel === "" || rel.endsWith("/")) rel += "index.html";
    const file = path.resolve(root, rel);
    if (!file.startsWith(path.resolve(root))) { res.writeHead(403); return res.end(); }
    fs.readFile(file, (err, body) => {
      if (err) { res.writeHead(404); return res.end("not found"); }
      const headers = { "content-type": TYPES[path.extname(file)] || "application/octet-stream" };
      if (cors) headers["access-control-allow-origin"] = "*";
      res.writeHead(200, headers);
      res.end(body);
    });
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

// `node tests/site/server.mjs [dir] [port]` serves by hand for a look.
if (import.meta.url === `file://${process.argv[1]}`) {
  const root = process.argv[2] || "dist";
  const s = await serve(root, "/");
  console.log(`serving ${root} on http://127.0.0.1:${s.address().port}/`);
}
