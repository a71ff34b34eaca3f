// Post-build: a gzip and a brotli copy of every text asset in dist/, so the gateway can send the
// compressed bytes as they are (Content-Encoding negotiated per request).
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

const root = new URL("../dist/", import.meta.url).pathname;
const text = /\.(html|js|mjs|css|json|svg|txt|map)$/;
let files = 0;
let before = 0;
let after = 0;

function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      walk(path);
      continue;
    }
    if (!text.test(name)) continue;
    const raw = readFileSync(path);
    if (raw.length < 256) continue;
    const br = brotliCompressSync(raw, {
      params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: raw.length },
    });
    const gz = gzipSync(raw, { level: 9 });
    writeFileSync(path + ".br", br);
    writeFileSync(path + ".gz", gz);
    files += 1;
    before += raw.length;
    after += br.length;
  }
}

walk(root);
console.log(`compressed ${files} assets: ${(before / 1024).toFixed(0)} KiB -> ${(after / 1024).toFixed(0)} KiB (brotli)`);
