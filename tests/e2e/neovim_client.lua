-- Neovim's own LSP client (nvim >= 0.7, `--headless --clean -u NONE`) against `promptlsp serve`,
-- driven by tests/e2e/test_neovim.py. Everything comes from the environment:
--   PROMPTLSP_NVIM_CMD   JSON list: the server command (python -m promptlsp serve)
--   PROMPTLSP_NVIM_FILE  the .prompt.toml to open (rewritten by the rename)
--   PROMPTLSP_NVIM_OUT   where the results go, as JSON (written once, at the end)
--   PROMPTLSP_NVIM_TIMEOUT_MS  the bound on every wait (default 30000)
--   PROMPTLSP_NVIM_RUN_FILE  a second .prompt.toml (its task model a stub): one example of it is
--                        run with promptlsp/runExample, then its inlay hints and code lenses asked for
--   PROMPTLSP_NVIM_RUN_AT  the text, in that file, in which the cursor is for the run (just after it)
-- Positions are computed by Neovim (vim.lsp.util.character_offset, in the client's offset
-- encoding) from byte columns of its buffer, never by the test. Any failure is recorded as
-- `error` in the results; Neovim always quits at the end.

local timeout = tonumber(vim.env.PROMPTLSP_NVIM_TIMEOUT_MS or '30000')
local out_path = assert(vim.env.PROMPTLSP_NVIM_OUT, 'PROMPTLSP_NVIM_OUT is not set')
local results = { steps = {} }

local function step(name)
  table.insert(results.steps, name)
end

-- The 0-based row and byte column just after the `nth` (1-based) plain occurrence of `needle`
-- (or `into` bytes into it) in the buffer.
local function locate(bufnr, needle, nth, into)
  local seen = 0
  for row, line in ipairs(vim.api.nvim_buf_get_lines(bufnr, 0, -1, true)) do
    local from = 1
    while true do
      local s, e = line:find(needle, from, true)
      if not s then break end
      seen = seen + 1
      if seen == (nth or 1) then
        return row - 1, (into and (s - 1 + into) or e)
      end
      from = e + 1
    end
  end
  error('not in the buffer: ' .. needle)
end

local function at(bufnr, client, row, col)
  return {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    position = { line = row, character = vim.lsp.util.character_offset(bufnr, row, col, client.offset_encoding) },
  }
end

local function position_params(bufnr, client, needle, nth, into)
  return at(bufnr, client, locate(bufnr, needle, nth, into))
end

-- One request to the one client, waited for at most `wait` (default `timeout`); the error or the result.
local function request(bufnr, client, method, params, wait)
  local responses, reason = vim.lsp.buf_request_sync(bufnr, method, params, wait or timeout)
  if not responses then
    error(method .. ': no answer within ' .. (wait or timeout) .. ' ms (' .. tostring(reason) .. ')')
  end
  local response = responses[client.id]
  if not response then error(method .. ': no response from the client') end
  if response.err then error(method .. ': ' .. vim.inspect(response.err)) end
  return response.result
end

local function completion(bufnr, client, params)
  local result = request(bufnr, client, 'textDocument/completion', params)
  local items = {}
  for _, item in ipairs(vim.lsp.util.extract_completion_items(result or {})) do
    table.insert(items, { label = item.label, kind = item.kind, textEdit = item.textEdit or vim.NIL })
  end
  return { position = params.position, items = items }
end

local function symbols(list)
  local tree = {}
  for _, s in ipairs(list or {}) do
    table.insert(tree, {
      name = s.name, kind = s.kind, detail = s.detail or vim.NIL,
      range = s.range, selectionRange = s.selectionRange,
      children = symbols(s.children),
    })
  end
  return tree
end

local function run()
  local cmd = vim.fn.json_decode((assert(vim.env.PROMPTLSP_NVIM_CMD, 'PROMPTLSP_NVIM_CMD is not set')))
  local file = assert(vim.env.PROMPTLSP_NVIM_FILE, 'PROMPTLSP_NVIM_FILE is not set')
  local root = vim.fn.fnamemodify(file, ':h')
  vim.cmd('edit ' .. vim.fn.fnameescape(file))
  local bufnr = vim.api.nvim_get_current_buf()
  results.fileformat = vim.bo[bufnr].fileformat

  local exited = nil
  local client_id = vim.lsp.start_client({
    name = 'promptlsp',
    cmd = cmd,
    root_dir = root,
    workspace_folders = { { uri = vim.uri_from_fname(root), name = 'ws' } },
    on_exit = function(code, signal) exited = { code = code, signal = signal } end,
  })
  if not client_id then error('vim.lsp.start_client failed') end
  local client = vim.lsp.get_client_by_id(client_id)
  if not vim.lsp.buf_attach_client(bufnr, client_id) then error('buf_attach_client failed') end
  if not vim.wait(timeout, function() return client.initialized or exited ~= nil end, 20) then
    error('the server did not initialize within ' .. timeout .. ' ms')
  end
  if exited then error('the server exited before initializing: ' .. vim.inspect(exited)) end
  step('initialized')
  local caps = client.server_capabilities or {}
  results.providers = {
    completion = caps.completionProvider ~= nil,
    documentSymbol = caps.documentSymbolProvider ~= nil and caps.documentSymbolProvider ~= false,
    rename = caps.renameProvider ~= nil and caps.renameProvider ~= false,
  }
  results.offset_encoding = client.offset_encoding

  -- inside {{ }}: after "{{ l" of "{{ lang }}", on a line with an emoji and CJK text before it
  results.completion_variable = completion(bufnr, client, position_params(bufnr, client, '{{ lang', 1, 4))
  step('completion in {{ }}')

  -- in a table: a key typed on a new line of [models.task] (the change goes to the server as
  -- Neovim's incremental didChange), then the line is removed again
  local row = locate(bufnr, 'temperature = 0')
  vim.api.nvim_buf_set_lines(bufnr, row + 1, row + 1, true, { 'to' })
  results.completion_key = completion(bufnr, client, at(bufnr, client, row + 1, 2))
  vim.api.nvim_buf_set_lines(bufnr, row + 1, row + 2, true, {})
  step('completion in a table')

  results.symbols = symbols(request(bufnr, client, 'textDocument/documentSymbol',
    { textDocument = { uri = vim.uri_from_bufnr(bufnr) } }))
  step('documentSymbol')

  -- rename the template variable `review` from inside "{{ review }}", as vim.lsp.buf.rename does
  local params = position_params(bufnr, client, '{{ review }}', 1, 5)
  results.prepare_rename = request(bufnr, client, 'textDocument/prepareRename', params) or vim.NIL
  params.newName = 'opinion'
  local edit = request(bufnr, client, 'textDocument/rename', params)
  if not edit then error('textDocument/rename gave no edit') end
  results.rename_edit = edit
  vim.lsp.util.apply_workspace_edit(edit, client.offset_encoding)
  vim.cmd('write')
  step('rename')

  -- run one example and ask for the inlay hints it leaves: Neovim 0.7 has no inlay-hint client,
  -- so the raw requests, as a client would send them
  local run_file = vim.env.PROMPTLSP_NVIM_RUN_FILE
  if run_file then
    vim.cmd('edit ' .. vim.fn.fnameescape(run_file))
    local runbuf = vim.api.nvim_get_current_buf()
    if not vim.lsp.buf_attach_client(runbuf, client_id) then error('buf_attach_client failed for ' .. run_file) end
    local uri = vim.uri_from_bufnr(runbuf)
    local here = position_params(runbuf, client, (assert(vim.env.PROMPTLSP_NVIM_RUN_AT, 'PROMPTLSP_NVIM_RUN_AT is not set')))
    results.run_at = here.position
    -- the first model call imports litellm in the server: a longer wait
    results.run_example = request(runbuf, client, 'promptlsp/runExample', { uri = uri, position = here.position },
      3 * timeout)
    step('runExample')
    local lines = vim.api.nvim_buf_line_count(runbuf)
    results.inlay_hints = request(runbuf, client, 'textDocument/inlayHint', {
      textDocument = { uri = uri },
      range = { start = { line = 0, character = 0 }, ['end'] = { line = lines, character = 0 } },
    }) or {}
    step('inlayHint')
    local lenses = request(runbuf, client, 'textDocument/codeLens', { textDocument = { uri = uri } }) or {}
    for i, lens in ipairs(lenses) do  -- an example's lens comes without its command: resolved, as when shown
      if lens.command == nil then lenses[i] = request(runbuf, client, 'codeLens/resolve', lens) end
    end
    results.code_lenses = lenses
    step('codeLens')
  end

  client.stop()
  if not vim.wait(timeout, function() return exited ~= nil end, 20) then
    error('the server did not exit within ' .. timeout .. ' ms of shutdown')
  end
  results.server_exit = exited
  step('stopped')
end

local ok, err = pcall(run)
if not ok then results.error = tostring(err) end
local f = assert(io.open(out_path .. '.part', 'w'))
f:write(vim.fn.json_encode(results))
f:close()
assert(os.rename(out_path .. '.part', out_path))
vim.cmd('qall!')
