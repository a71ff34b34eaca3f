// Every language has every namespace with the same keys as English (plural forms compared by
// their base key: languages have different plural categories), no empty strings, and the same
// {{placeholders}} as English.
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";

const root = new URL("../src/locales/", import.meta.url).pathname;
const langs = readdirSync(root).filter((d) => !d.startsWith("."));
const namespaces = readdirSync(join(root, "en")).filter((f) => f.endsWith(".json"));
const plural = /_(zero|one|two|few|many|other)$/;
let problems = 0;

function flatten(obj, prefix = "", out = new Map()) {
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === "object") flatten(v, key, out);
    else out.set(key, String(v));
  }
  return out;
}

function placeholders(s) {
  return [...s.matchAll(/\{\{\s*(\w+)/g)].map((m) => m[1]).sort().join(",");
}

function bases(map) {
  const b = new Map();
  for (const [k, v] of map) {
    const base = k.replace(plural, "");
    if (!b.has(base)) b.set(base, v);
  }
  return b;
}

const report = (msg) => {
  problems += 1;
  console.error(msg);
};

for (const ns of namespaces) {
  const en = bases(flatten(JSON.parse(readFileSync(join(root, "en", ns), "utf8"))));
  for (const lang of langs) {
    const path = join(root, lang, ns);
    if (!existsSync(path)) {
      report(`${lang}/${ns}: missing`);
      continue;
    }
    let data;
    try {
      data = JSON.parse(readFileSync(path, "utf8"));
    } catch (e) {
      report(`${lang}/${ns}: invalid JSON (${e.message})`);
      continue;
    }
    const got = bases(flatten(data));
    for (const [k, v] of en) {
      if (!got.has(k)) report(`${lang}/${ns}: missing key ${k}`);
      else if (!got.get(k).trim()) report(`${lang}/${ns}: empty ${k}`);
      else if (placeholders(got.get(k)) !== placeholders(v) && !plural.test(k)) {
        report(`${lang}/${ns}: ${k} has placeholders {${placeholders(got.get(k))}} instead of {${placeholders(v)}}`);
      }
    }
    for (const k of got.keys()) if (!en.has(k)) report(`${lang}/${ns}: extra key ${k}`);
  }
}

if (problems) {
  console.error(`${problems} translation problem(s)`);
  process.exit(1);
}
console.log(`translations: ${langs.length} languages x ${namespaces.length} namespaces complete`);
