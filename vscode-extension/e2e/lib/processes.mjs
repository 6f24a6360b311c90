// Every process the e2e suite starts runs in a process group of its own (spawn detached =
// setsid) and is stopped by killing that whole group: code-server leaves a file watcher and
// extension hosts behind when only its main pid dies, and the language server is a grandchild.
// Each group id is also appended to $PROMPTLSP_E2E_PGID_FILE so that scripts/test.sh can kill
// whatever a crashed runner left behind.

import { spawn } from 'node:child_process';
import fs from 'node:fs';

const live = new Set(); // process group ids started and not yet stopped

function record(pgid) {
  live.add(pgid);
  const file = process.env.PROMPTLSP_E2E_PGID_FILE;
  if (file) fs.appendFileSync(file, `${pgid}\n`);
}

function groupAlive(pgid) {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Kill a process group: SIGTERM, then SIGKILL after `graceMs` if anything is left. */
export async function killGroup(pgid, graceMs = 3000) {
  if (!pgid || !groupAlive(pgid)) {
    live.delete(pgid);
    return;
  }
  try {
    process.kill(-pgid, 'SIGTERM');
  } catch {}
  const deadline = Date.now() + graceMs;
  while (groupAlive(pgid) && Date.now() < deadline) await sleep(50);
  if (groupAlive(pgid)) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {}
    const hard = Date.now() + 2000;
    while (groupAlive(pgid) && Date.now() < hard) await sleep(50);
  }
  live.delete(pgid);
}

function ownGroup() {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}

/**
 * Register an existing process group (Chromium, which playwright starts detached) for cleanup;
 * returns false (and registers nothing) for the runner's own group.
 */
export function adoptGroup(pgid) {
  if (!pgid || pgid === ownGroup()) return false;
  record(pgid);
  return true;
}

/**
 * Start `command` in a new process group; stdout/stderr go to `logFile` unless `pipeStdout`
 * (then stdout is a pipe and stderr goes to the log). Returns the ChildProcess; its pid is the
 * group id.
 */
export function startGroup(command, args, { env, cwd, logFile, pipeStdout = false }) {
  const log = fs.openSync(logFile, 'a');
  const child = spawn(command, args, {
    env,
    cwd,
    detached: true,
    stdio: ['ignore', pipeStdout ? 'pipe' : log, log],
  });
  fs.closeSync(log);
  if (child.pid) record(child.pid);
  child.on('error', () => {}); // reported through the exit/timeout checks of the caller
  return child;
}

/** The pgid of the first process whose command line contains `needle` (Chromium's profile dir). */
export function findGroupByCmdline(needle) {
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (!cmdline.includes(needle)) continue;
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return Number(fields[2]); // pgrp
    } catch {}
  }
  return null;
}

export async function killAll() {
  for (const pgid of [...live]) await killGroup(pgid, 2000);
}

// Last resort when the runner exits without its cleanup (synchronous: no awaiting on 'exit').
process.on('exit', () => {
  for (const pgid of live) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {}
  }
});
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    for (const pgid of live) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {}
    }
    process.exit(128 + ({ SIGINT: 2, SIGTERM: 15, SIGHUP: 1 }[signal] ?? 1));
  });
}
