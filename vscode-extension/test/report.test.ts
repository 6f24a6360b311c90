import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseRunReport, REPORT_CSP } from '../src/core/report';

const page = `<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="${REPORT_CSP}"></head><body><svg></svg></body></html>`;

describe('parseRunReport', () => {
  test('the server page is kept as it is', () => {
    assert.deepEqual(parseRunReport({ runId: 'abc', html: page }), { runId: 'abc', html: page });
  });
  test('a malformed answer throws', () => {
    assert.throws(() => parseRunReport(null), /malformed run report/);
    assert.throws(() => parseRunReport({ runId: 'abc' }), /malformed run report/);
    assert.throws(() => parseRunReport({ runId: 1, html: page }), /malformed run report/);
  });
  test('a page without the strict content security policy is refused', () => {
    assert.throws(() => parseRunReport({ runId: 'a', html: '<html><script>alert(1)</script></html>' }), /strict content security policy/);
    const loose = page.replace(REPORT_CSP, "default-src *");
    assert.throws(() => parseRunReport({ runId: 'a', html: loose }), /strict content security policy/);
  });
});
