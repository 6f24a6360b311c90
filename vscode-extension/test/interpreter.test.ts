import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  Interpreter,
  PROBE_ARGS,
  ProbeRun,
  chooseInterpreter,
  expandPath,
  fixFor,
  startFailure,
  parseProbe,
  versionAtLeast,
} from '../src/core/interpreter';

describe('chooseInterpreter', () => {
  test('the setting wins over the Python extension', () => {
    assert.deepEqual(chooseInterpreter({ setting: '/opt/py/bin/python', pythonExtension: '/usr/bin/python3' }), {
      command: '/opt/py/bin/python',
      source: 'setting',
    });
  });
  test('then the Python extension', () => {
    assert.deepEqual(chooseInterpreter({ setting: '', pythonExtension: '/home/u/.venv/bin/python' }), {
      command: '/home/u/.venv/bin/python',
      source: 'python-extension',
    });
  });
  test('then python3 (python on Windows) when neither is there', () => {
    assert.deepEqual(chooseInterpreter({ setting: undefined, pythonExtension: undefined }), { command: 'python3', source: 'default' });
    assert.deepEqual(chooseInterpreter({ setting: '   ', pythonExtension: '', platform: 'win32' }), { command: 'python', source: 'default' });
  });
  test('ignores a setting that is not a string', () => {
    assert.equal(chooseInterpreter({ setting: 42, pythonExtension: undefined }).source, 'default');
  });
  test('expands ${workspaceFolder}, ~ and relative paths', () => {
    const base = { setting: '', workspaceFolder: '/work/proj', home: '/home/u', platform: 'linux' };
    assert.equal(expandPath('${workspaceFolder}/.venv/bin/python', base), '/work/proj/.venv/bin/python');
    assert.equal(expandPath('~/venvs/p/bin/python', base), '/home/u/venvs/p/bin/python');
    assert.equal(expandPath('.venv/bin/python', base), '/work/proj/.venv/bin/python');
    assert.equal(expandPath('./.venv/bin/python', base), '/work/proj/.venv/bin/python');
    assert.equal(expandPath('python3.12', base), 'python3.12'); // looked up on PATH
    assert.equal(expandPath('C:\\Python312\\python.exe', { ...base, platform: 'win32' }), 'C:\\Python312\\python.exe');
  });
});

const run = (stdout: string, extra: Partial<ProbeRun> = {}): ProbeRun => ({ stdout, stderr: '', exitCode: 0, ...extra });

describe('parseProbe', () => {
  test('a good interpreter', () => {
    const result = parseProbe(run('{"python": [3, 11, 4], "executable": "/x/python", "promptlsp": "0.1.0", "missing": []}\n'));
    assert.deepEqual(result, { ok: true, python: [3, 11, 4], promptlsp: '0.1.0', executable: '/x/python' });
  });
  test('missing interpreter (ENOENT) is "not-found"', () => {
    const result = parseProbe(run('', { exitCode: null, spawnError: 'ENOENT' }));
    assert.equal(result.ok, false);
    assert.equal(!result.ok && result.problem, 'not-found');
  });
  test('Python 3.9 is too old, even with promptlsp importable', () => {
    const result = parseProbe(run('{"python": [3, 9, 18], "promptlsp": "0.1.0"}'));
    assert.equal(!result.ok && result.problem, 'old-python');
  });
  test('Python 2.7 is too old', () => {
    const result = parseProbe(run('{"python": [2, 7, 18], "error": "ImportError: No module named promptlsp"}'));
    assert.equal(!result.ok && result.problem, 'old-python');
  });
  test('promptlsp not installed', () => {
    const result = parseProbe(run('{"python": [3, 12, 1], "error": "ModuleNotFoundError: No module named \'promptlsp\'"}'));
    assert.equal(!result.ok && result.problem, 'missing-promptlsp');
  });
  test('promptlsp importable but its dependencies missing', () => {
    const result = parseProbe(run('{"python": [3, 12, 1], "promptlsp": "0.1.0", "missing": ["pygls"]}'));
    assert.equal(!result.ok && result.problem, 'broken-install');
  });
  test('a broken import is "broken-install"', () => {
    const result = parseProbe(run('{"python": [3, 12, 1], "error": "ImportError: cannot import name \'x\' from \'tomlkit\'"}'));
    assert.equal(!result.ok && result.problem, 'broken-install');
  });
  test('garbage output is "not-python"', () => {
    const result = parseProbe(run('Hello from a shell script\n', { exitCode: 1, stderr: 'usage: foo' }));
    assert.equal(!result.ok && result.problem, 'not-python');
    assert.match(!result.ok ? result.detail : '', /usage: foo/);
  });
  test('malformed JSON and wrong types are "not-python"', () => {
    assert.equal((parseProbe(run('{"python": "3.11"}')) as { problem?: string }).problem, 'not-python');
    assert.equal((parseProbe(run('{not json')) as { problem?: string }).problem, 'not-python');
    assert.equal((parseProbe(run('')) as { problem?: string }).problem, 'not-python');
  });
  test('takes the last JSON line (sitecustomize noise before it)', () => {
    const result = parseProbe(run('{"banner": 1}\nsome text\n{"python": [3, 10, 0], "promptlsp": "unknown"}\n'));
    assert.equal(result.ok, true);
  });
  test('a timeout', () => {
    assert.equal((parseProbe(run('', { timedOut: true, exitCode: null })) as { problem?: string }).problem, 'timeout');
  });
  test('versionAtLeast', () => {
    assert.equal(versionAtLeast([3, 10, 0], [3, 10]), true);
    assert.equal(versionAtLeast([3, 9, 99], [3, 10]), false);
    assert.equal(versionAtLeast([4, 0], [3, 10]), true);
  });
});

describe('fixFor', () => {
  const fromSetting: Interpreter = { command: '/opt/py39/bin/python', source: 'setting' };
  const fallback: Interpreter = { command: 'python3', source: 'default' };
  test('missing promptlsp: the exact pip command for that interpreter', () => {
    const fix = fixFor({ ok: false, problem: 'missing-promptlsp', python: [3, 12, 0], detail: '' }, fromSetting);
    assert.equal(fix.command, '/opt/py39/bin/python -m pip install promptlsp');
    assert.match(fix.message, /Install it with: \/opt\/py39\/bin\/python -m pip install promptlsp/);
    assert.match(fix.message, /promptlsp\.interpreter/);
  });
  test('paths with spaces are quoted in the command', () => {
    const fix = fixFor({ ok: false, problem: 'missing-promptlsp', detail: '' }, { command: 'C:\\Program Files\\Python312\\python.exe', source: 'python-extension' });
    assert.equal(fix.command, '"C:\\Program Files\\Python312\\python.exe" -m pip install promptlsp');
  });
  test('old Python names the version and the setting', () => {
    const fix = fixFor({ ok: false, problem: 'old-python', python: [3, 9, 18], detail: '' }, fromSetting);
    assert.match(fix.message, /needs Python ≥ 3\.10/);
    assert.match(fix.message, /is Python 3\.9/);
    assert.match(fix.message, /Set "promptlsp\.interpreter"/);
    assert.equal(fix.command, undefined);
  });
  test('interpreter not found says where it came from', () => {
    const fix = fixFor({ ok: false, problem: 'not-found', detail: 'ENOENT' }, fallback);
    assert.match(fix.message, /"python3" \(the default; promptlsp\.interpreter is not set\) was not found/);
  });
});

function probe(command: string): Promise<ProbeRun> {
  return new Promise((resolve) => {
    execFile(command, [...PROBE_ARGS], { timeout: 20000 }, (error, stdout, stderr) => {
      const err = error as (NodeJS.ErrnoException & { code?: string | number }) | null;
      resolve({
        stdout,
        stderr,
        exitCode: err === null ? 0 : typeof err.code === 'number' ? err.code : null,
        spawnError: err !== null && typeof err.code === 'string' ? err.code : undefined,
      });
    });
  });
}

describe('the probe script on real interpreters', () => {
  test('a missing interpreter gives ENOENT -> not-found', async () => {
    const result = parseProbe(await probe('/nonexistent/bin/python3'));
    assert.equal(!result.ok && result.problem, 'not-found');
  });
  test('a program that is not Python -> not-python', async () => {
    const result = parseProbe(await probe(process.execPath)); // node -c ... is not a Python probe
    assert.equal(result.ok, false);
  });
  const venv = join(__dirname, '..', '..', '..', '.venv', 'bin', 'python');
  test('the repository .venv has promptlsp', { skip: !existsSync(venv) && 'no ../.venv here' }, async () => {
    const result = parseProbe(await probe(venv));
    assert.equal(result.ok, true, JSON.stringify(result));
  });
  test('system python3 runs the script (ok, or a precise problem)', { skip: !existsSync('/usr/bin/python3') && 'no /usr/bin/python3' }, async () => {
    const result = parseProbe(await probe('/usr/bin/python3'));
    assert.ok(result.ok || ['missing-promptlsp', 'old-python', 'broken-install'].includes(result.problem), JSON.stringify(result));
  });
});

describe('startFailure', () => {
  test('a start that throws says what failed, with which interpreter, and how to fix it', () => {
    const fix = startFailure(new Error('spawn EPERM.'), { command: '/w/.venv/bin/python', source: 'setting' });
    assert.equal(
      fix.message,
      'promptlsp: the server did not start with "/w/.venv/bin/python" (from the setting promptlsp.interpreter): spawn EPERM. ' +
        'See the promptlsp output for details; if the interpreter is the problem, set "promptlsp.interpreter" to the path of a ' +
        'Python ≥ 3.10 that has promptlsp installed, then run "promptlsp: Restart server".',
    );
  });
  test('before an interpreter was chosen, and for non-Error throws', () => {
    const fix = startFailure('the Python extension crashed', undefined);
    assert.match(fix.message, /^promptlsp: the server did not start: the Python extension crashed\. See the promptlsp output/);
    assert.match(startFailure(new Error(''), undefined).message, /did not start: unknown error\./);
  });
});
