/** A run's report page (`promptlsp/runReport`): the server renders it — the same page as
 * `promptlsp report RUN_ID --html` — and the extension only shows it in a webview. */
import { isFields } from './format';
import type { RunReportResult } from './protocol';
import { MalformedAnswer } from './estimate';

export interface RunReport {
  runId: string;
  html: string;
}

/** The CSP the page must declare for the webview to show it: nothing but its own inline styles
 * (no script, no network). A page without it is refused rather than shown with more rights. */
export const REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'";

export function parseRunReport(raw: unknown): RunReport {
  if (!isFields<RunReportResult>(raw) || typeof raw.runId !== 'string' || typeof raw.html !== 'string') {
    throw new MalformedAnswer('run report', 'expected {runId, html}');
  }
  const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]*)">/i.exec(raw.html);
  if (csp === null || csp[1] !== REPORT_CSP) {
    throw new MalformedAnswer('run report', 'it lacks its strict content security policy');
  }
  return { runId: raw.runId, html: raw.html };
}
