import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CLIENT_COMMANDS, clientLensCommand } from '../src/core/lenses';

describe('clientLensCommand', () => {
  const uri = { path: '/w/a.prompt.toml' };
  test('the prompt lenses run the extension commands on the document', () => {
    const lens = { title: 'Evaluate', command: 'promptlsp.evaluate', tooltip: 't', arguments: [{ uri: 'file:///w/a.prompt.toml' }] };
    assert.deepEqual(clientLensCommand(lens, uri), { title: 'Evaluate', command: 'promptlsp.evaluatePrompt', tooltip: 't', arguments: [uri] });
    assert.equal(clientLensCommand({ ...lens, command: 'promptlsp.optimize' }, uri).command, 'promptlsp.optimizePrompt');
  });
  test('a Run example lens passes the example id along (emoji and CJK ids intact)', () => {
    const lens = { title: 'Run example', command: 'promptlsp.evaluateExample', arguments: [{ uri: 'file:///w/a.prompt.toml', example: '良い😀' }] };
    assert.deepEqual(clientLensCommand(lens, uri).arguments, [uri, '良い😀']);
    assert.equal(clientLensCommand(lens, uri).command, 'promptlsp.runExample');
  });
  test('other commands and malformed arguments', () => {
    const other = { title: 'x', command: 'somebody.else', arguments: [1] };
    assert.deepEqual(clientLensCommand(other, uri), other);
    assert.deepEqual(clientLensCommand({ title: 'Run example', command: 'promptlsp.evaluateExample' }, uri).arguments, [uri]);
    assert.deepEqual(clientLensCommand({ title: 'Run example', command: 'promptlsp.evaluateExample', arguments: [null] }, uri).arguments, [uri]);
  });
  test('every mapped command is an extension command, none a server one', () => {
    for (const [server, client] of Object.entries(CLIENT_COMMANDS)) {
      assert.notEqual(server, client);
      assert.ok(!(client in CLIENT_COMMANDS), client);
    }
  });
});
