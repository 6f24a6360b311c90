/**
 * The server's code lenses run the server's own commands (any LSP client can execute them);
 * in VS Code they run the extension's commands instead, which add the results view, the
 * estimate's confirmation and the progress notification with Cancel. No vscode import here.
 */

export interface LensCommand {
  title: string;
  command: string;
  tooltip?: string;
  arguments?: unknown[];
}

/** Server executeCommand id -> the extension command that does the same with its UI. */
export const CLIENT_COMMANDS: Readonly<Record<string, string>> = {
  'promptlsp.evaluate': 'promptlsp.evaluatePrompt',
  'promptlsp.optimize': 'promptlsp.optimizePrompt',
  'promptlsp.evaluateExample': 'promptlsp.runExample',
};

/**
 * The command a server lens should run in VS Code: the extension's, with the document (`target`,
 * a vscode.Uri where this is used) and, for an example, its id as arguments. Unknown commands
 * are left as the server sent them.
 */
export function clientLensCommand<T>(command: LensCommand, target: T): LensCommand {
  const mapped = CLIENT_COMMANDS[command.command];
  if (mapped === undefined) {
    return command;
  }
  const [first] = command.arguments ?? [];
  const example = first !== null && typeof first === 'object' ? (first as { example?: unknown }).example : undefined;
  return {
    ...command,
    command: mapped,
    arguments: typeof example === 'string' ? [target, example] : [target],
  };
}
