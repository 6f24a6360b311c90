// Taplo's language server over stdio: the npm build of `taplo` (@taplo/cli) has no LSP
// ("the LSP is not part of this build"), but @taplo/lsp — what Even Better TOML runs in VS Code —
// is the same Rust server compiled to WebAssembly with a message-passing interface. This file
// gives it LSP's stdio transport (Content-Length framing) and a Node environment, like the
// extension's worker does. Used by bench/lsp.py; nothing here is promptlsp code.
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import taploLsp from "@taplo/lsp";

const { TaploLsp } = taploLsp; // a CommonJS module

const write = (message) => {
  const body = Buffer.from(JSON.stringify(message), "utf8");
  process.stdout.write(Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`, "ascii"), body]));
};

const env = {
  now: () => new Date(),
  envVar: (name) => process.env[name],
  envVars: () => Object.entries(process.env),
  stdErrAtty: () => false,
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  glob: () => [],
  readFile: (p) => fsp.readFile(p),
  writeFile: (p, bytes) => fsp.writeFile(p, bytes),
  urlToFilePath: (url) => fileURLToPath(url),
  isAbsolute: (p) => path.isAbsolute(p),
  cwd: () => process.cwd(),
  findConfigFile: (from) => {
    for (const name of [".taplo.toml", "taplo.toml"]) {
      const candidate = path.join(from, name);
      if (fs.existsSync(candidate)) return candidate;
    }
    return undefined;
  },
  fetch: { fetch, Headers, Request, Response },
};

const lsp = await TaploLsp.initialize(env, { onMessage: write });

let buffer = Buffer.alloc(0);
process.stdin.on("data", (chunk) => {
  buffer = Buffer.concat([buffer, chunk]);
  for (;;) {
    const end = buffer.indexOf("\r\n\r\n");
    if (end < 0) return;
    const header = buffer.subarray(0, end).toString("ascii");
    const match = /Content-Length: *(\d+)/i.exec(header);
    if (!match) { buffer = buffer.subarray(end + 4); continue; }
    const length = Number(match[1]);
    if (buffer.length < end + 4 + length) return;
    const message = JSON.parse(buffer.subarray(end + 4, end + 4 + length).toString("utf8"));
    buffer = buffer.subarray(end + 4 + length);
    lsp.send(message);
    if (message.method === "exit") process.exit(0);
  }
});
process.stdin.on("end", () => process.exit(0));
