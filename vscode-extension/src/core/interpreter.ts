/**
 * Which Python runs the server, and whether it can: the interpreter choice (setting, then the
 * Python extension's active environment, then `python3`), the probe that checks the version and
 * that promptlsp is importable, and the exact fix to show when it is not.
 */
import { isRecord } from './format';

export type InterpreterSource = 'setting' | 'python-extension' | 'default';

export interface Interpreter {
  command: string;
  source: InterpreterSource;
}

export interface InterpreterInputs {
  /** `promptlsp.interpreter` as configured (may be empty or not a string). */
  setting: unknown;
  /** The Python extension's active interpreter, when it is installed and has one. */
  pythonExtension?: string | undefined;
  /** The first workspace folder's path, for `${workspaceFolder}` and relative settings. */
  workspaceFolder?: string | undefined;
  home?: string | undefined;
  platform?: string;
}

export const MIN_PYTHON: readonly [number, number] = [3, 10];

function isAbsolute(p: string, platform: string): boolean {
  return p.startsWith('/') || (platform === 'win32' && (/^[A-Za-z]:[\\/]/.test(p) || p.startsWith('\\\\')));
}

function joinPath(dir: string, rel: string, platform: string): string {
  const sep = platform === 'win32' ? '\\' : '/';
  const trimmed = rel.replace(/^\.[\\/]/, '');
  return dir.endsWith('/') || dir.endsWith('\\') ? dir + trimmed : dir + sep + trimmed;
}

/** Expand `${workspaceFolder}`, `${userHome}` and a leading `~`; resolve a relative path
 * (one with a separator, like `.venv/bin/python`) against the workspace folder. */
export function expandPath(value: string, inputs: InterpreterInputs): string {
  const platform = inputs.platform ?? 'linux';
  let out = value.trim();
  if (inputs.workspaceFolder !== undefined) {
    out = out.split('${workspaceFolder}').join(inputs.workspaceFolder);
  }
  if (inputs.home !== undefined) {
    out = out.split('${userHome}').join(inputs.home);
    if (out === '~' || out.startsWith('~/') || out.startsWith('~\\')) {
      out = inputs.home + out.slice(1);
    }
  }
  const hasSeparator = out.includes('/') || (platform === 'win32' && out.includes('\\'));
  if (hasSeparator && !isAbsolute(out, platform) && inputs.workspaceFolder !== undefined) {
    out = joinPath(inputs.workspaceFolder, out, platform);
  }
  return out;
}

export function defaultPython(platform: string | undefined): string {
  return platform === 'win32' ? 'python' : 'python3';
}

/** The interpreter to launch: the setting, else the Python extension's, else `python3`. */
export function chooseInterpreter(inputs: InterpreterInputs): Interpreter {
  if (typeof inputs.setting === 'string' && inputs.setting.trim() !== '') {
    return { command: expandPath(inputs.setting, inputs), source: 'setting' };
  }
  if (typeof inputs.pythonExtension === 'string' && inputs.pythonExtension.trim() !== '') {
    return { command: inputs.pythonExtension.trim(), source: 'python-extension' };
  }
  return { command: defaultPython(inputs.platform), source: 'default' };
}

/** Python source run with `-c`; prints one JSON line. Written to parse on any Python, even 2. */
export const PROBE_SCRIPT = [
  'import sys, json',
  'out = {"python": list(sys.version_info[:3]), "executable": sys.executable}',
  'try:',
  '    import promptlsp',
  '    version = getattr(promptlsp, "__version__", None)',
  '    if version is None:',
  '        try:',
  '            from importlib.metadata import version as _v',
  '            version = _v("promptlsp")',
  '        except Exception:',
  '            version = "unknown"',
  '    out["promptlsp"] = version',
  '    import importlib.util',
  '    out["missing"] = [m for m in ("pygls", "lsprotocol") if importlib.util.find_spec(m) is None]',
  'except Exception as exc:',
  '    out["error"] = "%s: %s" % (type(exc).__name__, exc)',
  'print(json.dumps(out))',
].join('\n');

export const PROBE_ARGS: readonly string[] = ['-c', PROBE_SCRIPT];

export interface ProbeRun {
  stdout: string;
  stderr: string;
  exitCode: number | null;
  /** The spawn error's code, e.g. "ENOENT" when the interpreter does not exist. */
  spawnError?: string | undefined;
  timedOut?: boolean;
}

export type Problem = 'not-found' | 'not-python' | 'old-python' | 'missing-promptlsp' | 'broken-install' | 'timeout';

export type ProbeResult =
  | { ok: true; python: [number, number, number]; promptlsp: string; executable?: string }
  | { ok: false; problem: Problem; python?: [number, number, number]; detail: string };

function versionTriple(value: unknown): [number, number, number] | undefined {
  if (!Array.isArray(value) || value.length < 2 || !value.every((v) => typeof v === 'number' && Number.isInteger(v))) {
    return undefined;
  }
  return [value[0], value[1], value.length > 2 ? value[2] : 0];
}

function lastJsonLine(stdout: string): unknown {
  const lines = stdout.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.startsWith('{'));
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      return JSON.parse(lines[i]);
    } catch {
      // keep looking
    }
  }
  return undefined;
}

export function versionAtLeast(v: readonly number[], min: readonly number[]): boolean {
  for (let i = 0; i < min.length; i++) {
    const a = v[i] ?? 0;
    if (a !== min[i]) {
      return a > min[i];
    }
  }
  return true;
}

/** What the probe says about the interpreter. */
export function parseProbe(run: ProbeRun): ProbeResult {
  if (run.spawnError !== undefined) {
    const notFound = run.spawnError === 'ENOENT' || run.spawnError === 'EACCES' || run.spawnError === 'ENOTDIR';
    return { ok: false, problem: notFound ? 'not-found' : 'not-python', detail: run.spawnError };
  }
  if (run.timedOut) {
    return { ok: false, problem: 'timeout', detail: 'the interpreter did not answer within the time limit' };
  }
  const data = lastJsonLine(run.stdout);
  const python = isRecord(data) ? versionTriple(data.python) : undefined;
  if (!isRecord(data) || python === undefined) {
    // The script parses on Python 2 and 3, so no JSON line means this is not Python at all.
    const detail = (run.stderr || run.stdout).trim().split(/\r?\n/).slice(-3).join(' ') || `exit code ${run.exitCode}`;
    return { ok: false, problem: 'not-python', detail };
  }
  if (!versionAtLeast(python, MIN_PYTHON)) {
    return { ok: false, problem: 'old-python', python, detail: `Python ${python[0]}.${python[1]}` };
  }
  if (typeof data.error === 'string') {
    const missingModule = /ModuleNotFoundError|ImportError/.test(data.error) && /promptlsp/.test(data.error);
    return { ok: false, problem: missingModule ? 'missing-promptlsp' : 'broken-install', python, detail: data.error };
  }
  if (Array.isArray(data.missing) && data.missing.length > 0) {
    return { ok: false, problem: 'broken-install', python, detail: `missing ${data.missing.join(', ')}` };
  }
  const version = typeof data.promptlsp === 'string' ? data.promptlsp : 'unknown';
  const executable = typeof data.executable === 'string' ? data.executable : undefined;
  return { ok: true, python, promptlsp: version, executable };
}

export interface Fix {
  /** The whole message, with the exact command or setting. */
  message: string;
  /** A shell command that fixes it, when there is one (offered as "Copy command"). */
  command?: string;
}

function quote(command: string): string {
  return /^[A-Za-z0-9_./:\\-]+$/.test(command) ? command : `"${command.replace(/"/g, '\\"')}"`;
}

function where(interpreter: Interpreter): string {
  switch (interpreter.source) {
    case 'setting':
      return `"${interpreter.command}" (from the setting promptlsp.interpreter)`;
    case 'python-extension':
      return `"${interpreter.command}" (the Python extension's selected interpreter)`;
    default:
      return `"${interpreter.command}" (the default; promptlsp.interpreter is not set)`;
  }
}

/** The message telling the user exactly how to fix a failed probe. */
export function fixFor(result: Extract<ProbeResult, { ok: false }>, interpreter: Interpreter): Fix {
  const py = quote(interpreter.command);
  const setting = 'Set "promptlsp.interpreter" to the path of a Python ≥ 3.10 that has promptlsp installed (e.g. /path/to/project/.venv/bin/python)';
  switch (result.problem) {
    case 'not-found':
      return { message: `promptlsp: the Python interpreter ${where(interpreter)} was not found (${result.detail}). ${setting}.` };
    case 'not-python':
      return { message: `promptlsp: ${where(interpreter)} did not run as Python (${result.detail}). ${setting}.` };
    case 'timeout':
      return { message: `promptlsp: ${where(interpreter)} did not answer within 20 seconds. ${setting}, then run "promptlsp: Restart server".` };
    case 'old-python': {
      const [major, minor] = result.python ?? [0, 0];
      return { message: `promptlsp needs Python ≥ 3.10, but ${where(interpreter)} is Python ${major}.${minor}. ${setting}.` };
    }
    case 'missing-promptlsp': {
      const command = `${py} -m pip install promptlsp`;
      return {
        message: `promptlsp is not installed for ${where(interpreter)}. Install it with: ${command} — or set "promptlsp.interpreter" to the Python of an environment that has it.`,
        command,
      };
    }
    case 'broken-install': {
      const command = `${py} -m pip install --force-reinstall promptlsp`;
      return {
        message: `promptlsp cannot be imported by ${where(interpreter)} (${result.detail}). Reinstall it with: ${command} — or set "promptlsp.interpreter" to another environment.`,
        command,
      };
    }
  }
}

/**
 * The message for a start that failed after (or outside) the probe: the client did not start,
 * or choosing or probing the interpreter threw. `interpreter` is undefined when it failed
 * before one was chosen.
 */
export function startFailure(error: unknown, interpreter: Interpreter | undefined): Fix {
  const raw = error instanceof Error ? error.message : String(error);
  const reason = raw.trim().replace(/[.\s]+$/, '') || 'unknown error';
  const withWhat = interpreter !== undefined ? ` with ${where(interpreter)}` : '';
  return {
    message:
      `promptlsp: the server did not start${withWhat}: ${reason}. See the promptlsp output for details; ` +
      'if the interpreter is the problem, set "promptlsp.interpreter" to the path of a Python ≥ 3.10 that has promptlsp installed, ' +
      'then run "promptlsp: Restart server".',
  };
}
