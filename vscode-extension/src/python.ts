/** The Python extension's active interpreter (ms-python.python API), when it is installed. */
import * as vscode from 'vscode';

const PYTHON_EXTENSION = 'ms-python.python';

interface EnvironmentPath {
  id?: string;
  path?: string;
}

interface PythonEnvironmentsApi {
  getActiveEnvironmentPath?(resource?: vscode.Uri): EnvironmentPath | undefined;
  resolveEnvironment?(env: EnvironmentPath | string): Thenable<{ executable?: { uri?: vscode.Uri } } | undefined>;
  onDidChangeActiveEnvironmentPath?: vscode.Event<unknown>;
}

function withTimeout<T>(promise: Thenable<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    Promise.resolve(promise).then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

async function environmentsApi(log: vscode.LogOutputChannel): Promise<PythonEnvironmentsApi | undefined> {
  const extension = vscode.extensions.getExtension(PYTHON_EXTENSION);
  if (extension === undefined) {
    return undefined;
  }
  try {
    const exports = extension.isActive ? extension.exports : await withTimeout(extension.activate(), 20000, 'activating the Python extension');
    const api = (exports as { environments?: PythonEnvironmentsApi } | undefined)?.environments;
    if (api === undefined || typeof api.getActiveEnvironmentPath !== 'function') {
      log.warn('the Python extension has no environments API; not using its interpreter');
      return undefined;
    }
    return api;
  } catch (error) {
    log.warn(`the Python extension could not be used: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
}

/** The active interpreter's executable for `resource`, or undefined (no extension, no env). */
export async function activeInterpreter(log: vscode.LogOutputChannel, resource?: vscode.Uri): Promise<string | undefined> {
  const api = await environmentsApi(log);
  if (api === undefined) {
    return undefined;
  }
  try {
    const envPath = api.getActiveEnvironmentPath?.(resource);
    if (envPath === undefined) {
      return undefined;
    }
    if (typeof api.resolveEnvironment === 'function') {
      const resolved = await withTimeout(api.resolveEnvironment(envPath), 15000, 'resolving the Python environment');
      const executable = resolved?.executable?.uri?.fsPath;
      if (executable) {
        return executable;
      }
    }
    return typeof envPath.path === 'string' && envPath.path !== '' ? envPath.path : undefined;
  } catch (error) {
    log.warn(`could not read the Python extension's interpreter: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
}

/** Subscribe to interpreter changes in the Python extension (a no-op without it). */
export async function onDidChangeInterpreter(log: vscode.LogOutputChannel, listener: () => void): Promise<vscode.Disposable | undefined> {
  const api = await environmentsApi(log);
  const event = api?.onDidChangeActiveEnvironmentPath;
  return typeof event === 'function' ? event(() => listener()) : undefined;
}
